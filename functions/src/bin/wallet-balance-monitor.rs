//! Lambda `wallet-balance-monitor` (SQS worker): see its entry in the registry.

// One invocation at a time: the single-threaded runtime starts no worker threads at init.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), functions::lambda::Error> {
    functions::lambda::run_worker(&functions::registry::WALLET_BALANCE_MONITOR).await
}
