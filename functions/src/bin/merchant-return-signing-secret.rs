//! Lambda `merchant-return-signing-secret`: see its entry in the registry.

#[tokio::main]
async fn main() -> Result<(), functions::lambda::Error> {
    functions::lambda::run_http("merchant-return-signing-secret").await
}
