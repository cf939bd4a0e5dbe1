//! Lambda `audit-logs`: see its entry in the registry.

// One invocation at a time: the single-threaded runtime starts no worker threads at init.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), functions::lambda::Error> {
    functions::lambda::run_http(&functions::registry::AUDIT_LOGS).await
}
