//! The state every handler shares: configuration, the pool, keys, the clock and the ports
//! (job queue, event bus, gateways). Built once per process (per Lambda instance), before the
//! first request.

use crate::auth::jwt::JwtKeys;
use crate::clock::{Clock, SystemClock};
use crate::config::{Backends, Config};
use crate::db::{Db, DbError};
use crate::gateways::Gateways;
use crate::jobs::JobQueue;
use crate::jobs::aws;
use crate::jobs::bus::{EventBus, LocalBus};
use crate::jobs::consumers::{self, ConsumerSwitch};
use crate::jobs::outbox::{Delivery, Relay};
use crate::jobs::postgres_queue::PostgresQueue;
use std::sync::Arc;
use std::time::Duration;

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The pool could not be configured.
    #[error(transparent)]
    Database(#[from] DbError),
    /// The signing key was refused.
    #[error("JWT_SECRET: {0}")]
    Jwt(String),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(String),
}

/// Shared application state.
pub struct App {
    /// The configuration it was built from.
    pub config: Config,
    /// The connection pool.
    pub db: Db,
    /// Access-token keys.
    pub jwt: JwtKeys,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// Outbound HTTP (gateways, the sandbox's webhooks).
    pub http: reqwest::Client,
    /// The payment gateways.
    pub gateways: Gateways,
    /// Where jobs go.
    pub queue: Arc<dyn JobQueue>,
    /// Where domain events go.
    pub bus: Arc<dyn EventBus>,
    /// Starts and stops workers' consumption of their queues (pause and resume).
    pub consumers: Arc<dyn ConsumerSwitch>,
    /// How producers hand over jobs and events.
    pub delivery: Delivery,
}

/// Builds the gateway connectors over the outbound HTTP client.
pub type GatewaysFn = fn(reqwest::Client, &Config) -> Gateways;
/// Builds the `aws` backend's queue and bus from the queue prefix and the bus name.
pub type AwsPortsFn = fn(String, String) -> aws::PortsFuture;
/// Builds the `aws` backend's consumer switch from the queue prefix.
pub type ConsumersFn = fn(String) -> aws::ConsumersFuture;

/// The adapters a process links beyond the database and outbound HTTP. Each is a constructor the
/// caller names, not a flag: a Lambda whose registry entry names none of them does not reference
/// the gateway connectors or the AWS SDK, so the linker leaves them out of its binary.
#[derive(Clone, Copy)]
pub struct Adapters {
    /// The gateway connectors; `None`: the process calls no gateway (it gets none).
    pub gateways: Option<GatewaysFn>,
    /// On the `aws` backend, SQS and/or EventBridge; `None`: the process touches neither (its
    /// queue and bus refuse every call).
    pub aws: Option<AwsPortsFn>,
    /// On the `aws` backend, the workers' event source mappings; `None`: the process pauses no
    /// queue (its switch refuses every call).
    pub consumers: Option<ConsumersFn>,
}

impl Adapters {
    /// Everything: the local runner, the operations CLI and the tests.
    pub const ALL: Adapters = Adapters {
        gateways: Some(Gateways::new),
        aws: Some(aws::sqs_and_eventbridge),
        consumers: Some(aws::lambda_consumers),
    };
}

impl App {
    /// Builds the state with the PostgreSQL queue and the in-process bus (the pool connects
    /// lazily; see [`Db::warm`]).
    pub fn new(config: Config) -> Result<App, StartupError> {
        App::local(config, Adapters::ALL.gateways)
    }

    fn local(config: Config, gateways: Option<GatewaysFn>) -> Result<App, StartupError> {
        let db = Db::connect(&config.database)?;
        let queue: Arc<dyn JobQueue> =
            Arc::new(PostgresQueue::new(db.clone(), config.jobs.max_receives));
        let bus: Arc<dyn EventBus> = Arc::new(LocalBus::new(queue.clone()));
        let mut app = App::assemble(config, db, queue, bus, gateways)?;
        app.delivery = Delivery::Direct;
        Ok(app)
    }

    /// Builds the state with the backends the configuration names: on `aws`, SQS and EventBridge
    /// through the SDK's default credentials, region and endpoint (`AWS_ENDPOINT_URL` for moto).
    pub async fn connect(config: Config) -> Result<App, StartupError> {
        App::connect_with(config, Adapters::ALL).await
    }

    /// As [`App::connect`], with only the given adapters (a Lambda's, from its registry entry).
    pub async fn connect_with(config: Config, adapters: Adapters) -> Result<App, StartupError> {
        let Backends::Aws {
            queue_prefix,
            bus_name,
        } = config.jobs.backends.clone()
        else {
            return App::local(config, adapters.gateways);
        };
        let switch: Arc<dyn ConsumerSwitch> = match adapters.consumers {
            Some(build) => build(queue_prefix.clone()).await,
            None => Arc::new(consumers::Undeclared),
        };
        let ports = match adapters.aws {
            Some(build) => build(queue_prefix, bus_name).await,
            None => aws::Ports::undeclared(),
        };
        let db = Db::connect(&config.database)?;
        let mut app = App::assemble(config, db, ports.queue, ports.bus, adapters.gateways)?;
        app.consumers = switch;
        Ok(app)
    }

    /// Builds the state over the given queue and bus.
    pub fn with_ports(
        config: Config,
        db: Db,
        queue: Arc<dyn JobQueue>,
        bus: Arc<dyn EventBus>,
    ) -> Result<App, StartupError> {
        App::assemble(config, db, queue, bus, Adapters::ALL.gateways)
    }

    fn assemble(
        config: Config,
        db: Db,
        queue: Arc<dyn JobQueue>,
        bus: Arc<dyn EventBus>,
        gateways: Option<GatewaysFn>,
    ) -> Result<App, StartupError> {
        let jwt = JwtKeys::new(&config.auth).map_err(|e| StartupError::Jwt(e.to_string()))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("lightspeedpay/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| StartupError::Http(e.to_string()))?;
        let gateways = match gateways {
            Some(build) => build(http.clone(), &config),
            None => Gateways::none(),
        };
        Ok(App {
            config,
            db,
            jwt,
            clock: Arc::new(SystemClock),
            http,
            gateways,
            queue,
            bus,
            consumers: Arc::new(consumers::LocalRunner),
            delivery: Delivery::Relay,
        })
    }

    /// The outbox relay over this state's ports.
    pub fn relay(&self) -> Relay<'_> {
        Relay {
            db: &self.db,
            queue: self.queue.as_ref(),
            bus: self.bus.as_ref(),
        }
    }

    /// Publishes outbox rows right after their transaction committed; a failure is logged and
    /// left to the sweeper, never returned to the caller whose change is already durable.
    pub async fn publish(&self, outbox_ids: &[uuid::Uuid]) {
        if let Err(e) = self.relay().publish(outbox_ids).await {
            tracing::warn!(error = %e, "outbox relay failed; the sweeper will publish");
        }
    }
}
