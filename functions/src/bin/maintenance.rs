//! Lambda `maintenance` (scheduled): see its entry in the registry.

#[tokio::main]
async fn main() -> Result<(), functions::lambda::Error> {
    functions::lambda::run_schedule("maintenance").await
}
