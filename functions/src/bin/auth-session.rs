//! Lambda `auth-session`: see its entry in the registry.

#[tokio::main]
async fn main() -> Result<(), functions::lambda::Error> {
    functions::lambda::run_http("auth-session").await
}
