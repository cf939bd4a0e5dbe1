//! Typed configuration, read once from the environment at start and validated as a whole: a bad
//! deployment fails with one message naming every missing or invalid variable, and no values.

use crate::crypto::cipher::KeyRing;
use crate::gateways::provider::Provider;
use crate::mode::Mode;
use crate::routing::breaker::BreakerSettings;
use crate::routing::smart::SmartSettings;
use crate::secret::Secret;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Everything the platform reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Database connections.
    pub database: DatabaseConfig,
    /// Tokens and sessions.
    pub auth: AuthConfig,
    /// The keys that seal gateway credentials.
    pub encryption: KeyRing,
    /// HTTP limits and public addresses.
    pub http: HttpConfig,
    /// Requests per minute per principal unless the merchant has an override.
    pub rate_limit_per_minute: u32,
    /// Payment limits.
    pub payments: PaymentsConfig,
    /// Background work.
    pub jobs: JobsConfig,
    /// Base URL of the sandbox gateway's API (our own `sandbox-gateway` function by default).
    pub sandbox_base_url: String,
    /// Origins replacing a real gateway's hosts, by `provider:environment` (from
    /// `GATEWAY_<PROVIDER>_<TEST|LIVE>_URL`): a gateway's own test host, a proxy, or a mock.
    pub gateway_urls: BTreeMap<(Provider, Mode), String>,
    /// How long one call to a gateway may take before it counts as a timeout.
    pub gateway_timeout: Duration,
    /// Circuit breakers, smart routing and failover.
    pub routing: RoutingConfig,
    /// Deliveries to merchants' webhook endpoints.
    pub webhooks: WebhooksConfig,
    /// WhatsApp and Slack notifications.
    pub notifications: NotificationsConfig,
    /// When alerts are raised and how often people hear about them.
    pub alerts: AlertsConfig,
    /// The operations monitors' thresholds (worker health, SLAs).
    pub monitors: MonitorsConfig,
    /// Which payments the daily `archive` job moves to the archive, and how.
    pub archive: ArchiveConfig,
}

/// The archive job's settings.
#[derive(Debug, Clone, Copy)]
pub struct ArchiveConfig {
    /// Age (since its last change) after which a payment in a final state is archived.
    pub after: chrono::Duration,
    /// Payments moved per database transaction.
    pub batch_size: i32,
    /// How long one run keeps starting batches; the next run takes up the rest.
    pub time_budget: Duration,
}

/// Merchant webhook delivery settings.
#[derive(Debug, Clone, Copy)]
pub struct WebhooksConfig {
    /// Loopback receivers (`127.0.0.1`, `[::1]`, `localhost`) are allowed: local development
    /// only (`WEBHOOKS_ALLOW_LOOPBACK=true`); private and metadata addresses never are.
    pub allow_loopback: bool,
    /// How long connecting to a receiver may take.
    pub connect_timeout: Duration,
    /// How long a whole delivery may take, the answer's first bytes included.
    pub timeout: Duration,
    /// How many deliveries one run sends at once.
    pub concurrency: usize,
}

/// WhatsApp and Slack senders.
#[derive(Debug, Clone)]
pub struct NotificationsConfig {
    /// The WhatsApp Cloud API.
    pub whatsapp: WhatsAppConfig,
    /// Slack.
    pub slack: SlackConfig,
    /// Attempts per message before it is failed for good.
    pub max_attempts: u32,
    /// The first retry's wait; each later one doubles it (at most an hour).
    pub retry_base: Duration,
}

/// The WhatsApp Cloud API (template messages and status webhooks).
#[derive(Debug, Clone)]
pub struct WhatsAppConfig {
    /// Graph API origin, `https://graph.facebook.com` unless a proxy or a mock replaces it.
    pub api_base: String,
    /// Graph API version in the path, e.g. `v21.0`.
    pub api_version: String,
    /// The business phone number id messages are sent from; `None`: WhatsApp is not configured.
    pub phone_number_id: Option<String>,
    /// The system user's access token; `None`: WhatsApp is not configured.
    pub access_token: Option<Secret<String>>,
    /// The app secret that signs status webhooks (`X-Hub-Signature-256`).
    pub app_secret: Option<Secret<String>>,
    /// The token the subscription handshake must present.
    pub verify_token: Option<Secret<String>>,
    /// The approved template notices are sent with (body parameters: title, details).
    pub template_name: String,
    /// The template's language code.
    pub template_language: String,
    /// At most one message per phone number per this interval; the rest wait their turn.
    pub recipient_interval: Duration,
}

/// Slack (incoming webhooks and `chat.postMessage`).
#[derive(Debug, Clone)]
pub struct SlackConfig {
    /// Web API origin, `https://slack.com` unless a proxy or a mock replaces it.
    pub api_base: String,
    /// The bot token for channel recipients; `None`: only webhook recipients can be reached.
    pub bot_token: Option<Secret<String>>,
    /// At most one message per recipient per this interval; the rest wait their turn.
    pub recipient_interval: Duration,
    /// Merchants' webhook URLs may be plain http and on loopback (local development only).
    pub allow_local_webhooks: bool,
}

impl WhatsAppConfig {
    /// The sender's number id and token, when both are configured.
    pub fn sender(&self) -> Option<(&str, &Secret<String>)> {
        Some((
            self.phone_number_id.as_deref()?,
            self.access_token.as_ref()?,
        ))
    }
}

/// Alert thresholds and the notification cool-down.
#[derive(Debug, Clone, Copy)]
pub struct AlertsConfig {
    /// Least time between two notifications of one open alert.
    pub notify_cool_down: chrono::Duration,
    /// Messages waiting (visible or delayed) in one queue above which it is backed up.
    pub queue_backlog: u64,
    /// Age of a queue's oldest visible message above which the queue is stuck.
    pub queue_age: Duration,
}

/// The operations monitors' thresholds (`shared::monitors`).
#[derive(Debug, Clone, Copy)]
pub struct MonitorsConfig {
    /// The window over which a worker's work and error rate are judged, ending at the run's
    /// scheduled time.
    pub worker_window: Duration,
    /// How long a worker may go without a success while work waits on its queue, and how old a
    /// waiting message must be, before it is silent.
    pub worker_silent_after: Duration,
    /// Error rate over the window (failed of all, in percent) above which a worker is failing.
    pub worker_failing_rate_percent: u32,
    /// Failures in the window below which a worker is never judged failing (one bad message of
    /// two is not a failing worker).
    pub worker_failing_min_failures: u32,
    /// How long a payment may stay pending (created or pending) before it breaches its SLA.
    pub payment_sla: Duration,
    /// How long past its next attempt a pending webhook delivery is overdue (the retry schedule
    /// runs every minute).
    pub webhook_overdue_after: Duration,
    /// How long a webhook delivery may stay undelivered before it is overdue however its retries
    /// go.
    pub webhook_undelivered_after: Duration,
    /// Payments, and endpoints, that get an alert of their own per run; the rest are counted in
    /// one aggregate alert.
    pub alerts_per_run: u32,
}

impl Default for MonitorsConfig {
    fn default() -> MonitorsConfig {
        MonitorsConfig {
            worker_window: Duration::from_secs(300),
            worker_silent_after: Duration::from_secs(600),
            worker_failing_rate_percent: 50,
            worker_failing_min_failures: 5,
            payment_sla: Duration::from_secs(900),
            webhook_overdue_after: Duration::from_secs(600),
            webhook_undelivered_after: Duration::from_secs(6 * 3_600),
            alerts_per_run: 20,
        }
    }
}

/// Routing settings.
#[derive(Debug, Clone, Copy)]
pub struct RoutingConfig {
    /// When breakers open and recover.
    pub breaker: BreakerSettings,
    /// Smart routing's knobs.
    pub smart: SmartSettings,
    /// Gateway accounts one payment may be tried at when order creation fails (failover bound).
    pub max_accounts: u32,
}

/// Where jobs and events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backends {
    /// The PostgreSQL queue and the in-process bus (local runner, tests, small deployments).
    Local,
    /// SQS queues named `<queue_prefix><queue>` and the EventBridge bus `bus_name`.
    Aws {
        /// Prefix of every queue name, e.g. `lightspeedpay-prod-`.
        queue_prefix: String,
        /// The platform's event bus.
        bus_name: String,
    },
}

/// Limits on payments.
#[derive(Debug, Clone)]
pub struct PaymentsConfig {
    /// Smallest amount in paise.
    pub min_amount: i64,
    /// Largest amount in paise.
    pub max_amount: i64,
    /// Expiry of a payment when the merchant gives none.
    pub default_expiry: Duration,
    /// How long a pending attempt waits for news before the monitor asks the gateway.
    pub stale_after: Duration,
    /// Our fee for a merchant without a rate of its own (`FEE_DEFAULT_RATE_BPS`,
    /// `FEE_DEFAULT_FIXED`).
    pub default_fee: crate::ledger::fees::FeeRate,
}

/// Queue and worker settings.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// Receives before a message is dead-lettered (the SQS redrive policy's maxReceiveCount).
    pub max_receives: u32,
    /// Seconds a received message stays hidden.
    pub visibility_timeout: Duration,
    /// Age after which the sweeper publishes outbox rows the relay left behind.
    pub outbox_grace: Duration,
    /// Where jobs and events go.
    pub backends: Backends,
}

/// How to reach PostgreSQL.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// Connection string for the application role (behind the pooler in production).
    pub url: Secret<String>,
    /// Direct connection string for migrations as the schema owner.
    pub migration_url: Option<Secret<String>>,
    /// Connections per process: 1–2 in Lambda (one request at a time), more in the local runner.
    pub pool_size: usize,
    /// Transport security.
    pub tls: DatabaseTls,
    /// Prepare each statement once per connection and reuse its plan. Planning is most of the
    /// database's work on the payment path, so this doubles what it can take; it needs a direct
    /// or session-mode connection: a transaction-mode pooler (Supabase's port 6543) moves a
    /// client between server connections and so cannot keep prepared statements.
    pub statement_cache: bool,
    /// How long a request waits for a pooled connection, and for a new one to be opened, before
    /// it answers 503: bounded so that an outage is a prompt retryable answer, not a hang.
    pub pool_timeout: Duration,
}

/// Transport security to PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTls {
    /// Plain TCP (local development and tests).
    Disable,
    /// TLS, verifying the server against the public roots plus an optional extra CA (Supabase's).
    Verify {
        /// An additional root certificate.
        extra_ca: Option<ExtraCa>,
    },
}

/// Where an additional root certificate for PostgreSQL's TLS comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtraCa {
    /// A PEM file (`DATABASE_CA_CERT_PATH`): a local path or one bundled with the deployment.
    File(String),
    /// PEM text in the environment (`DATABASE_CA_CERT`): how a Lambda gets it without a file.
    Pem(String),
}

/// Token settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// HS256 signing key for access tokens.
    pub jwt_secret: Secret<Vec<u8>>,
    /// `iss` claim.
    pub issuer: String,
    /// `aud` claim.
    pub audience: String,
    /// Lifetime of an access token.
    pub access_token_ttl: Duration,
    /// Lifetime of a refresh token.
    pub refresh_token_ttl: Duration,
    /// Failed authentications per minute per source address and per client key before 429.
    pub failures_per_minute: u32,
    /// Operators must have a second factor (TOTP) to get a full session.
    pub admin_mfa_required: bool,
}

/// HTTP settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Where customers and gateways reach us (checkout and return URLs).
    pub public_base_url: String,
    /// Requests per minute per source address on the unauthenticated routes (checkout, returns,
    /// webhooks, the sandbox).
    pub public_rate_limit_per_minute: u32,
}

/// Every problem found in the environment, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// One line per variable.
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid configuration ({} problem(s)):",
            self.problems.len()
        )?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

/// Reads variables from a lookup and collects problems instead of stopping at the first.
struct Reader<F: Fn(&str) -> Option<String>> {
    lookup: F,
    problems: Vec<String>,
}

impl<F: Fn(&str) -> Option<String>> Reader<F> {
    fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn required(&mut self, name: &str, what: &str) -> Option<String> {
        let value = self.optional(name);
        if value.is_none() {
            self.problems.push(format!("{name} is required ({what})"));
        }
        value
    }

    fn tls(&mut self) -> DatabaseTls {
        match self.optional("DATABASE_TLS").as_deref() {
            None | Some("disable") => DatabaseTls::Disable,
            Some("verify") => {
                let extra_ca = match (
                    self.optional("DATABASE_CA_CERT_PATH"),
                    self.optional("DATABASE_CA_CERT"),
                ) {
                    (Some(_), Some(_)) => {
                        self.problems.push(
                            "DATABASE_CA_CERT_PATH and DATABASE_CA_CERT are both set: set one"
                                .into(),
                        );
                        None
                    }
                    (Some(path), None) => Some(ExtraCa::File(path)),
                    (None, Some(pem)) => Some(ExtraCa::Pem(pem)),
                    (None, None) => None,
                };
                DatabaseTls::Verify { extra_ca }
            }
            Some(_) => {
                self.problems
                    .push("DATABASE_TLS must be 'disable' or 'verify'".into());
                DatabaseTls::Disable
            }
        }
    }

    fn switch(&mut self, name: &str, default: bool) -> bool {
        match self.optional(name).as_deref() {
            None => default,
            Some("on" | "true" | "1") => true,
            Some("off" | "false" | "0") => false,
            Some(_) => {
                self.problems.push(format!("{name} must be 'on' or 'off'"));
                default
            }
        }
    }

    fn origin(&mut self, name: &str, default: &str) -> String {
        let value = self.optional(name).unwrap_or_else(|| default.to_string());
        if !(value.starts_with("https://") || value.starts_with("http://")) {
            self.problems.push(format!("{name} must be an http(s) URL"));
        }
        value.trim_end_matches('/').to_string()
    }

    fn notifications(&mut self) -> NotificationsConfig {
        let api_version = self
            .optional("WHATSAPP_API_VERSION")
            .unwrap_or_else(|| "v21.0".into());
        if !api_version.starts_with('v')
            || api_version.len() > 10
            || !api_version[1..]
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.')
        {
            self.problems
                .push("WHATSAPP_API_VERSION must look like v21.0".into());
        }
        let phone_number_id = self.optional("WHATSAPP_PHONE_NUMBER_ID");
        if phone_number_id
            .as_ref()
            .is_some_and(|id| id.len() > 32 || !id.bytes().all(|b| b.is_ascii_digit()))
        {
            self.problems
                .push("WHATSAPP_PHONE_NUMBER_ID must be the number's numeric id".into());
        }
        let template_name = self
            .optional("WHATSAPP_TEMPLATE_NAME")
            .unwrap_or_else(|| "lightspeedpay_notice".into());
        if template_name.is_empty()
            || template_name.len() > 512
            || !template_name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            self.problems.push(
                "WHATSAPP_TEMPLATE_NAME must be lower-case letters, digits and underscores".into(),
            );
        }
        let template_language = self
            .optional("WHATSAPP_TEMPLATE_LANGUAGE")
            .unwrap_or_else(|| "en".into());
        let (lang, region) = template_language
            .split_once('_')
            .unwrap_or((template_language.as_str(), ""));
        if !(2..=3).contains(&lang.len())
            || !lang.bytes().all(|b| b.is_ascii_lowercase())
            || !(region.is_empty()
                || ((2..=4).contains(&region.len())
                    && region.bytes().all(|b| b.is_ascii_alphabetic())))
        {
            self.problems
                .push("WHATSAPP_TEMPLATE_LANGUAGE must be a language code like en or en_US".into());
        }
        NotificationsConfig {
            whatsapp: WhatsAppConfig {
                api_base: self.origin("WHATSAPP_API_BASE", "https://graph.facebook.com"),
                api_version,
                phone_number_id,
                access_token: self.optional("WHATSAPP_ACCESS_TOKEN").map(Secret::new),
                app_secret: self.optional("WHATSAPP_APP_SECRET").map(Secret::new),
                verify_token: self.optional("WHATSAPP_VERIFY_TOKEN").map(Secret::new),
                template_name,
                template_language,
                recipient_interval: Duration::from_secs(self.number(
                    "WHATSAPP_RECIPIENT_INTERVAL_SECONDS",
                    6u64,
                    0,
                    86_400,
                )),
            },
            slack: SlackConfig {
                api_base: self.origin("SLACK_API_BASE", "https://slack.com"),
                bot_token: self.optional("SLACK_BOT_TOKEN").map(Secret::new),
                recipient_interval: Duration::from_secs(self.number(
                    "SLACK_RECIPIENT_INTERVAL_SECONDS",
                    1u64,
                    0,
                    86_400,
                )),
                allow_local_webhooks: self.switch("SLACK_ALLOW_LOCAL_WEBHOOKS", false),
            },
            max_attempts: self.number("NOTIFY_MAX_ATTEMPTS", 6u32, 1, 50),
            retry_base: Duration::from_secs(self.number(
                "NOTIFY_RETRY_BASE_SECONDS",
                30u64,
                1,
                3_600,
            )),
        }
    }

    fn seconds(&mut self, name: &str, default: Duration, min: u64, max: u64) -> Duration {
        Duration::from_secs(self.number(name, default.as_secs(), min, max))
    }

    fn number<T: FromStr + PartialOrd + fmt::Display + Copy>(
        &mut self,
        name: &str,
        default: T,
        min: T,
        max: T,
    ) -> T {
        let Some(raw) = self.optional(name) else {
            return default;
        };
        match raw.parse::<T>() {
            Ok(v) if v >= min && v <= max => v,
            _ => {
                self.problems
                    .push(format!("{name} must be a whole number from {min} to {max}"));
                default
            }
        }
    }
}

/// The variable that replaces `provider`'s hosts in `environment`, e.g.
/// `GATEWAY_RAZORPAY_TEST_URL`.
pub fn gateway_url_variable(provider: Provider, environment: Mode) -> String {
    format!(
        "GATEWAY_{}_{}_URL",
        provider.as_str().to_uppercase(),
        environment.as_str().to_uppercase()
    )
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup`; used by `from_env` and by tests.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut r = Reader {
            lookup,
            problems: Vec::new(),
        };

        let url = r.required(
            "DATABASE_URL",
            "postgres://user@host:port/db for the application role",
        );
        let migration_url = r.optional("DATABASE_MIGRATION_URL");
        for (name, value) in [
            ("DATABASE_URL", &url),
            ("DATABASE_MIGRATION_URL", &migration_url),
        ] {
            if let Some(v) = value
                && v.parse::<tokio_postgres::Config>().is_err()
            {
                r.problems.push(format!(
                    "{name} is not a valid PostgreSQL connection string"
                ));
            }
        }
        let pool_size = r.number("DATABASE_POOL_SIZE", 2usize, 1, 64);
        let tls = r.tls();
        let statement_cache = r.switch("DATABASE_STATEMENT_CACHE", true);
        let pool_timeout =
            Duration::from_secs(r.number("DATABASE_POOL_TIMEOUT_SECONDS", 3u64, 1, 30));

        let jwt_secret = r.required(
            "JWT_SECRET",
            "at least 32 random bytes signing access tokens",
        );
        if jwt_secret.as_ref().is_some_and(|s| s.len() < 32) {
            r.problems
                .push("JWT_SECRET must be at least 32 bytes long".into());
        }
        let issuer = r
            .optional("JWT_ISSUER")
            .unwrap_or_else(|| "lightspeedpay".into());
        let audience = r
            .optional("JWT_AUDIENCE")
            .unwrap_or_else(|| "lightspeedpay-api".into());
        // An access token outlives a logout or revocation by at most one request's identify, but
        // a stolen one is good until it expires: an hour is the most we accept.
        let access_ttl = r.number("ACCESS_TOKEN_TTL_SECONDS", 900u64, 60, 3_600);
        let refresh_ttl = r.number(
            "REFRESH_TOKEN_TTL_SECONDS",
            30 * 86_400u64,
            3_600,
            90 * 86_400,
        );

        let keys = r.required(
            "ENCRYPTION_KEYS",
            "comma-separated id:base64 AES-256 keys sealing gateway credentials",
        );
        let active_key = r.optional("ENCRYPTION_ACTIVE_KEY_ID");
        let encryption = keys.and_then(|keys| match KeyRing::parse(&keys, active_key.as_deref()) {
            Ok(ring) => Some(ring),
            Err(e) => {
                r.problems
                    .push(format!("ENCRYPTION_KEYS / ENCRYPTION_ACTIVE_KEY_ID: {e}"));
                None
            }
        });

        let failures_per_minute = r.number("AUTH_FAILURES_PER_MINUTE", 20u32, 1, 100_000);
        let admin_mfa_required = r.switch("ADMIN_MFA_REQUIRED", false);
        let rate_limit_per_minute = r.number("RATE_LIMIT_PER_MINUTE", 100u32, 1, 1_000_000);
        let max_body_bytes = r.number("MAX_BODY_BYTES", 64 * 1024usize, 1024, 6 * 1024 * 1024);
        let public_rate_limit_per_minute =
            r.number("PUBLIC_RATE_LIMIT_PER_MINUTE", 600u32, 1, 1_000_000);
        let public_base_url = r
            .optional("PUBLIC_BASE_URL")
            .unwrap_or_else(|| "http://127.0.0.1:3000".into());
        if !(public_base_url.starts_with("http://") || public_base_url.starts_with("https://")) {
            r.problems
                .push("PUBLIC_BASE_URL must start with http:// or https://".into());
        }

        let min_amount = r.number("PAYMENT_MIN_AMOUNT", 100i64, 1, 100_000_000_000);
        let max_amount = r.number("PAYMENT_MAX_AMOUNT", 50_000_000i64, 1, 100_000_000_000);
        if min_amount > max_amount {
            r.problems
                .push("PAYMENT_MIN_AMOUNT must not exceed PAYMENT_MAX_AMOUNT".into());
        }
        let default_expiry = r.number("PAYMENT_DEFAULT_EXPIRY_SECONDS", 1800u64, 60, 7 * 86_400);
        let stale_after = r.number("PAYMENT_STALE_AFTER_SECONDS", 120u64, 10, 86_400);
        let default_fee = crate::ledger::fees::FeeRate {
            rate_bps: r.number("FEE_DEFAULT_RATE_BPS", 200u32, 0, 10_000),
            fixed_fee: r.number("FEE_DEFAULT_FIXED", 0i64, 0, 100_000_000),
        };
        let max_receives = r.number("QUEUE_MAX_RECEIVES", 5u32, 1, 1000);
        let visibility = r.number("QUEUE_VISIBILITY_TIMEOUT_SECONDS", 60u64, 1, 43_200);
        let outbox_grace = r.number("OUTBOX_GRACE_SECONDS", 5u64, 0, 3_600);
        let backends = match r.optional("JOB_BACKEND").as_deref() {
            None | Some("postgres") => Backends::Local,
            Some("aws") => {
                let queue_prefix = r.required(
                    "SQS_QUEUE_PREFIX",
                    "prefix of the SQS queue names, e.g. lightspeedpay-prod-",
                );
                let bus_name =
                    r.required("EVENT_BUS_NAME", "the EventBridge bus domain events go to");
                Backends::Aws {
                    queue_prefix: queue_prefix.unwrap_or_default(),
                    bus_name: bus_name.unwrap_or_default(),
                }
            }
            Some(_) => {
                r.problems
                    .push("JOB_BACKEND must be 'postgres' or 'aws'".into());
                Backends::Local
            }
        };
        let sandbox_base_url = r
            .optional("SANDBOX_BASE_URL")
            .unwrap_or_else(|| public_base_url.clone());
        let gateway_timeout = r.number("GATEWAY_TIMEOUT_SECONDS", 15u64, 1, 60);
        let breaker_defaults = BreakerSettings::default();
        let routing = RoutingConfig {
            breaker: BreakerSettings {
                failures: r.number(
                    "ROUTING_BREAKER_FAILURES",
                    breaker_defaults.failures,
                    1,
                    1_000,
                ),
                cool_down: chrono::Duration::seconds(r.number(
                    "ROUTING_BREAKER_COOL_DOWN_SECONDS",
                    breaker_defaults.cool_down.num_seconds(),
                    1,
                    3_600,
                )),
                probes: r.number("ROUTING_BREAKER_PROBES", breaker_defaults.probes, 1, 100),
                ..breaker_defaults
            },
            smart: SmartSettings::default(),
            max_accounts: r.number("ROUTING_MAX_ACCOUNTS", 3u32, 1, 3),
        };
        let allow_loopback = r.switch("WEBHOOKS_ALLOW_LOOPBACK", false);
        // On Lambda, loopback is the runtime API: a merchant's URL must never reach it.
        if allow_loopback && r.optional("AWS_LAMBDA_FUNCTION_NAME").is_some() {
            r.problems.push(
                "WEBHOOKS_ALLOW_LOOPBACK is for local development only, never on AWS Lambda".into(),
            );
        }
        let webhooks = WebhooksConfig {
            allow_loopback,
            connect_timeout: Duration::from_secs(r.number(
                "WEBHOOKS_CONNECT_TIMEOUT_SECONDS",
                3u64,
                1,
                10,
            )),
            timeout: Duration::from_secs(r.number("WEBHOOKS_TIMEOUT_SECONDS", 10u64, 1, 30)),
            concurrency: r.number("WEBHOOKS_CONCURRENCY", 16usize, 1, 256),
        };
        let notifications = r.notifications();
        let archive = ArchiveConfig {
            // Gateways take refunds for about six months after a payment, and an archived
            // payment is never refunded: no sooner than that.
            after: chrono::Duration::days(r.number("ARCHIVE_AFTER_DAYS", 180i64, 180, 3650)),
            batch_size: r.number("ARCHIVE_BATCH_SIZE", 1000i32, 1, 50_000),
            time_budget: Duration::from_secs(r.number(
                "ARCHIVE_TIME_BUDGET_SECONDS",
                600u64,
                1,
                // The function times out at 900 s: a batch started by then must finish.
                840,
            )),
        };
        let alerts = AlertsConfig {
            notify_cool_down: chrono::Duration::seconds(r.number(
                "ALERTS_NOTIFY_COOL_DOWN_SECONDS",
                1800i64,
                0,
                7 * 86_400,
            )),
            queue_backlog: r.number("ALERTS_QUEUE_BACKLOG", 1000u64, 1, 100_000_000),
            queue_age: Duration::from_secs(r.number(
                "ALERTS_QUEUE_AGE_SECONDS",
                900u64,
                1,
                14 * 86_400,
            )),
        };
        let defaults = MonitorsConfig::default();
        let monitors = MonitorsConfig {
            worker_window: r.seconds(
                "WORKER_HEALTH_WINDOW_SECONDS",
                defaults.worker_window,
                60,
                86_400,
            ),
            worker_silent_after: r.seconds(
                "WORKER_SILENT_AFTER_SECONDS",
                defaults.worker_silent_after,
                60,
                86_400,
            ),
            worker_failing_rate_percent: r.number(
                "WORKER_FAILING_RATE_PERCENT",
                defaults.worker_failing_rate_percent,
                1,
                99,
            ),
            worker_failing_min_failures: r.number(
                "WORKER_FAILING_MIN_FAILURES",
                defaults.worker_failing_min_failures,
                1,
                100_000,
            ),
            payment_sla: r.seconds("PAYMENT_SLA_SECONDS", defaults.payment_sla, 60, 7 * 86_400),
            webhook_overdue_after: r.seconds(
                "WEBHOOK_OVERDUE_SECONDS",
                defaults.webhook_overdue_after,
                60,
                7 * 86_400,
            ),
            webhook_undelivered_after: r.seconds(
                "WEBHOOK_UNDELIVERED_SECONDS",
                defaults.webhook_undelivered_after,
                60,
                30 * 86_400,
            ),
            alerts_per_run: r.number("MONITOR_ALERTS_PER_RUN", defaults.alerts_per_run, 0, 1_000),
        };
        let mut gateway_urls = BTreeMap::new();
        for provider in Provider::external() {
            for environment in [Mode::Test, Mode::Live] {
                let name = gateway_url_variable(provider, environment);
                let Some(url) = r.optional(&name) else {
                    continue;
                };
                if url.starts_with("https://") || url.starts_with("http://") {
                    gateway_urls.insert(
                        (provider, environment),
                        url.trim_end_matches('/').to_string(),
                    );
                } else {
                    r.problems.push(format!("{name} must be an http(s) URL"));
                }
            }
        }

        match (url, jwt_secret, encryption) {
            (Some(url), Some(jwt_secret), Some(encryption)) if r.problems.is_empty() => {
                Ok(Config {
                    database: DatabaseConfig {
                        url: Secret::new(url),
                        migration_url: migration_url.map(Secret::new),
                        pool_size,
                        tls,
                        statement_cache,
                        pool_timeout,
                    },
                    auth: AuthConfig {
                        jwt_secret: Secret::new(jwt_secret.into_bytes()),
                        issuer,
                        audience,
                        access_token_ttl: Duration::from_secs(access_ttl),
                        refresh_token_ttl: Duration::from_secs(refresh_ttl),
                        failures_per_minute,
                        admin_mfa_required,
                    },
                    encryption,
                    http: HttpConfig {
                        max_body_bytes,
                        public_base_url: public_base_url.trim_end_matches('/').to_string(),
                        public_rate_limit_per_minute,
                    },
                    rate_limit_per_minute,
                    payments: PaymentsConfig {
                        min_amount,
                        max_amount,
                        default_expiry: Duration::from_secs(default_expiry),
                        stale_after: Duration::from_secs(stale_after),
                        default_fee,
                    },
                    jobs: JobsConfig {
                        max_receives,
                        visibility_timeout: Duration::from_secs(visibility),
                        outbox_grace: Duration::from_secs(outbox_grace),
                        backends,
                    },
                    sandbox_base_url: sandbox_base_url.trim_end_matches('/').to_string(),
                    gateway_urls,
                    gateway_timeout: Duration::from_secs(gateway_timeout),
                    routing,
                    webhooks,
                    notifications,
                    alerts,
                    monitors,
                    archive,
                })
            }
            _ => Err(ConfigError {
                problems: r.problems,
            }),
        }
    }
}

/// What `lightspeedpay migrate` needs: the owner connection (`DATABASE_MIGRATION_URL`, else
/// `DATABASE_URL`) and the TLS mode, without the rest of the configuration.
pub fn migration_settings(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(Secret<String>, DatabaseTls), ConfigError> {
    let mut r = Reader {
        lookup,
        problems: Vec::new(),
    };
    let url = r
        .optional("DATABASE_MIGRATION_URL")
        .or_else(|| r.optional("DATABASE_URL"));
    let tls = r.tls();
    match url {
        Some(url) if r.problems.is_empty() => Ok((Secret::new(url), tls)),
        None => {
            r.problems
                .push("DATABASE_MIGRATION_URL or DATABASE_URL is required".into());
            Err(ConfigError {
                problems: r.problems,
            })
        }
        Some(_) => Err(ConfigError {
            problems: r.problems,
        }),
    }
}

/// Builds a lookup over a fixed set of variables (tests and the local runner).
pub fn lookup_from(vars: BTreeMap<String, String>) -> impl Fn(&str) -> Option<String> {
    move |name| vars.get(name).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const KEY: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn reports_every_missing_variable_at_once() {
        let err = Config::from_lookup(lookup_from(BTreeMap::new())).unwrap_err();
        let text = err.to_string();
        for name in ["DATABASE_URL", "JWT_SECRET", "ENCRYPTION_KEYS"] {
            assert!(text.contains(name), "{text}");
        }
        assert_eq!(err.problems.len(), 3);
    }

    #[test]
    fn reports_invalid_values_without_echoing_them() {
        let err = Config::from_lookup(lookup_from(vars(&[
            ("DATABASE_URL", "postgres://lsp_app@127.0.0.1/db"),
            ("JWT_SECRET", "short-secret-value"),
            ("ENCRYPTION_KEYS", "k1:not-base64!!"),
            ("DATABASE_POOL_SIZE", "0"),
            ("RATE_LIMIT_PER_MINUTE", "lots"),
        ])))
        .unwrap_err();
        assert_eq!(err.problems.len(), 4, "{err}");
        let text = err.to_string();
        assert!(
            !text.contains("short-secret-value") && !text.contains("not-base64"),
            "{text}"
        );
    }

    #[test]
    fn parses_a_complete_environment() {
        let config = Config::from_lookup(lookup_from(vars(&[
            ("DATABASE_URL", "postgres://lsp_app@127.0.0.1/db"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("ENCRYPTION_KEYS", KEY),
            ("DATABASE_POOL_SIZE", "4"),
        ])))
        .unwrap();
        assert_eq!(config.database.pool_size, 4);
        assert_eq!(config.rate_limit_per_minute, 100);
        assert_eq!(config.auth.access_token_ttl, Duration::from_secs(900));
        assert_eq!(config.encryption.active_key_id(), "k1");
    }

    #[test]
    fn the_extra_database_ca_comes_from_a_file_or_the_environment_not_both() {
        let base = [
            ("DATABASE_URL", "postgres://lsp_app@127.0.0.1/db"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("ENCRYPTION_KEYS", KEY),
            ("DATABASE_TLS", "verify"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            Config::from_lookup(lookup_from(vars(&pairs)))
        };
        let pem = "-----BEGIN CERTIFICATE-----\n…";
        assert_eq!(
            with(&[("DATABASE_CA_CERT", pem)]).unwrap().database.tls,
            DatabaseTls::Verify {
                extra_ca: Some(ExtraCa::Pem(pem.into()))
            }
        );
        assert_eq!(
            with(&[("DATABASE_CA_CERT_PATH", "/var/task/ca.crt")])
                .unwrap()
                .database
                .tls,
            DatabaseTls::Verify {
                extra_ca: Some(ExtraCa::File("/var/task/ca.crt".into()))
            }
        );
        let err = with(&[
            ("DATABASE_CA_CERT", pem),
            ("DATABASE_CA_CERT_PATH", "/var/task/ca.crt"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("both set"), "{err}");
    }

    #[test]
    fn loopback_webhook_receivers_are_refused_on_lambda() {
        let base = [
            ("DATABASE_URL", "postgres://lsp_app@127.0.0.1/db"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("ENCRYPTION_KEYS", KEY),
            ("WEBHOOKS_ALLOW_LOOPBACK", "true"),
        ];
        let local = Config::from_lookup(lookup_from(vars(&base))).unwrap();
        assert!(local.webhooks.allow_loopback);
        let mut pairs = base.to_vec();
        pairs.push((
            "AWS_LAMBDA_FUNCTION_NAME",
            "lightspeedpay-prod-webhook-delivery",
        ));
        let err = Config::from_lookup(lookup_from(vars(&pairs))).unwrap_err();
        assert!(err.to_string().contains("WEBHOOKS_ALLOW_LOOPBACK"), "{err}");
    }

    #[test]
    fn notifications_default_to_unconfigured_and_refuse_bad_values() {
        let base = [
            ("DATABASE_URL", "postgres://lsp_app@127.0.0.1/db"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("ENCRYPTION_KEYS", KEY),
        ];
        let config = Config::from_lookup(lookup_from(vars(&base))).unwrap();
        let n = &config.notifications;
        assert!(n.whatsapp.sender().is_none());
        assert_eq!(n.whatsapp.api_base, "https://graph.facebook.com");
        assert_eq!(n.whatsapp.template_name, "lightspeedpay_notice");
        assert_eq!(n.slack.api_base, "https://slack.com");
        assert!(n.slack.bot_token.is_none() && !n.slack.allow_local_webhooks);

        let mut pairs = base.to_vec();
        pairs.extend([
            ("WHATSAPP_PHONE_NUMBER_ID", "1234567890"),
            ("WHATSAPP_ACCESS_TOKEN", "wa-test-token-not-real"),
            ("WHATSAPP_API_BASE", "http://127.0.0.1:9/"),
        ]);
        let config = Config::from_lookup(lookup_from(vars(&pairs))).unwrap();
        assert_eq!(
            config.notifications.whatsapp.sender().map(|(id, _)| id),
            Some("1234567890")
        );
        assert_eq!(config.notifications.whatsapp.api_base, "http://127.0.0.1:9");

        let mut bad = base.to_vec();
        bad.extend([
            ("WHATSAPP_PHONE_NUMBER_ID", "+91 phone"),
            ("WHATSAPP_API_VERSION", "latest"),
            ("WHATSAPP_TEMPLATE_NAME", "Has Spaces"),
            ("WHATSAPP_TEMPLATE_LANGUAGE", "english"),
            ("SLACK_API_BASE", "slack.com"),
            ("NOTIFY_MAX_ATTEMPTS", "0"),
        ]);
        let err = Config::from_lookup(lookup_from(vars(&bad))).unwrap_err();
        assert_eq!(err.problems.len(), 6, "{err}");
    }

    #[test]
    fn monitor_thresholds_default_sanely_and_refuse_bad_values() {
        let base = [
            ("DATABASE_URL", "postgres://lsp_app@127.0.0.1/db"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("ENCRYPTION_KEYS", KEY),
        ];
        let config = Config::from_lookup(lookup_from(vars(&base))).unwrap();
        let m = config.monitors;
        assert_eq!(m.payment_sla, Duration::from_secs(900));
        assert_eq!(m.worker_silent_after, Duration::from_secs(600));
        assert_eq!((m.worker_failing_rate_percent, m.alerts_per_run), (50, 20));

        let mut pairs = base.to_vec();
        pairs.extend([
            ("PAYMENT_SLA_SECONDS", "1800"),
            ("MONITOR_ALERTS_PER_RUN", "0"),
        ]);
        let config = Config::from_lookup(lookup_from(vars(&pairs))).unwrap();
        assert_eq!(config.monitors.payment_sla, Duration::from_secs(1800));
        assert_eq!(config.monitors.alerts_per_run, 0);

        let mut bad = base.to_vec();
        bad.extend([
            ("PAYMENT_SLA_SECONDS", "5"),
            ("WORKER_FAILING_RATE_PERCENT", "100"),
            ("WORKER_HEALTH_WINDOW_SECONDS", "soon"),
        ]);
        let err = Config::from_lookup(lookup_from(vars(&bad))).unwrap_err();
        assert_eq!(err.problems.len(), 3, "{err}");
    }

    #[test]
    fn every_external_provider_and_no_other_has_host_overrides() {
        let mut pairs = vec![
            (
                "DATABASE_URL".to_string(),
                "postgres://lsp_app@127.0.0.1/db".to_string(),
            ),
            (
                "JWT_SECRET".to_string(),
                "0123456789abcdef0123456789abcdef".to_string(),
            ),
            ("ENCRYPTION_KEYS".to_string(), KEY.to_string()),
        ];
        for provider in Provider::ALL {
            for environment in [Mode::Test, Mode::Live] {
                pairs.push((
                    gateway_url_variable(provider, environment),
                    format!("http://127.0.0.1:9/{provider}/{environment}/"),
                ));
            }
        }
        let config = Config::from_lookup(lookup_from(pairs.into_iter().collect())).unwrap();
        let expected: BTreeMap<(Provider, Mode), String> = Provider::external()
            .flat_map(|p| [Mode::Test, Mode::Live].map(|m| (p, m)))
            .map(|(p, m)| ((p, m), format!("http://127.0.0.1:9/{p}/{m}")))
            .collect();
        assert_eq!(config.gateway_urls, expected);
        assert_eq!(
            gateway_url_variable(Provider::PayU, Mode::Live),
            "GATEWAY_PAYU_LIVE_URL"
        );
    }
}
