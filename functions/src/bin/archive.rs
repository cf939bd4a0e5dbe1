//! Lambda `archive` (scheduled): see its entry in the registry.

// One invocation at a time: the single-threaded runtime starts no worker threads at init.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), functions::lambda::Error> {
    functions::lambda::run_schedule(&functions::registry::ARCHIVE).await
}
