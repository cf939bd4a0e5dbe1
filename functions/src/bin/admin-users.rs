//! Lambda `admin-users`: see its entry in the registry.

#[tokio::main]
async fn main() -> Result<(), functions::lambda::Error> {
    functions::lambda::run_http("admin-users").await
}
