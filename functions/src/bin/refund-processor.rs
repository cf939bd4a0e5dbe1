//! Lambda `refund-processor` (SQS worker): see its entry in the registry.

#[tokio::main]
async fn main() -> Result<(), functions::lambda::Error> {
    functions::lambda::run_worker("refund-processor").await
}
