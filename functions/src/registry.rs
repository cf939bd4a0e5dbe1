//! The registry: one entry per function naming what triggers it, the routes it serves and what it
//! may touch beyond the database. The Lambda binaries, the local runner, the docs and the tests
//! that hold `template.yaml` to account all read it; nothing about routing or grants is written
//! anywhere else. Each binary references only its own entry, so it links only its own handlers
//! and the adapters its grants name.

use crate::api::{Api, Link};
use crate::context::RequestContext;
use crate::handlers::{
    admin_gateways, admin_merchants, admin_queues, admin_routing, admin_users, affiliates, alerts,
    audit_logs, auth, checkout, docs, fees, health, jobs, ledger, merchant, merchant_routing,
    merchant_webhooks, monitors, notifications, pay, refunds, return_signing, sandbox_gateway,
    system, transactions, wallets, webhooks,
};
use http::Method;
use shared::affiliates::{
    Affiliate, AffiliateMerchant, Detail as AffiliateDetail, LinkAffiliate, NewAffiliate,
};
use shared::alerts::AlertView;
use shared::app::{Adapters, ConsumersFn, GatewaysFn};
use shared::audit::entries::AuditEntry;
use shared::error::ErrorCode;
use shared::gateway_accounts::{AddGatewayAccount, GatewayAccountView, UpdateGatewayAccount};
use shared::gateways::Gateways;
use shared::http::ApiResponse;
use shared::jobs::admin::{
    CleanRequest, Cleaned, DeadLetterView, QueueStats, QueueSwitch, QueueView, Retried,
    RetryRequest,
};
use shared::jobs::aws;
use shared::jobs::{Message, queues};
use shared::ledger::fee_settings::{FeeSchedule, ReplaceFees};
use shared::ledger::reports::{AccountView, EntryView, TrialBalance};
use shared::ledger::suspense::{ResolveSuspense, SuspenseItem};
use shared::merchant_webhooks::delivery::{
    AttemptView, Replay, Replayed, TestOutcome, TestRequest,
};
use shared::merchant_webhooks::endpoints::{
    EndpointChanges, EndpointView, NewEndpoint, WithSecret,
};
use shared::merchant_webhooks::events::EventView;
use shared::merchants::{CreateMerchant, Merchant, SuspendMerchant, UpdateMerchant};
use shared::notifications::recipients::{NewRecipient, RecipientView, UpdateRecipient};
use shared::payments::refunds::{RefundBody, RefundView};
use shared::payments::transactions::{PayRequest, TransactionView};
use shared::routing::health::GatewayHealth;
use shared::routing::pools::{ChangePriorities, MerchantPool, Pool, ReplacePool};
use shared::sandbox_provider::{
    CreateOrder, CreateRefund, Order as SandboxOrder, Orders as SandboxOrders,
    Refunds as SandboxRefunds, SandboxRefund,
};
use shared::schedules::Tick;
use shared::system::SystemStatus;
use shared::system::schedules::ScheduleSpec;
use shared::wallets::WalletView;
use shared::wallets::thresholds::SetThresholds;
use shared::wallets::top_ups::{NewCheckoutTopUp, NewOperatorTopUp, OperatorTopUpDone};
use shared::{App, AppError};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<ApiResponse, AppError>> + Send>>;
/// An HTTP handler.
pub type Handler = fn(Arc<App>, RequestContext) -> HandlerFuture;
/// A worker: takes a batch, answers the ids of the messages that failed.
pub type WorkerHandler =
    fn(Arc<App>, Vec<Message>) -> Pin<Box<dyn Future<Output = Vec<String>> + Send>>;
/// A scheduled job: one run, for the time the scheduler meant it for; answers a summary. The
/// run key is kept around it (`shared::schedules::runs`), so a handler never sees a duplicate.
pub type ScheduleHandler =
    fn(Arc<App>, Tick) -> Pin<Box<dyn Future<Output = Result<serde_json::Value, AppError>> + Send>>;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, unmetered (health checks).
    Unmetered,
    /// Anyone, rate-limited by source address (checkout, returns, webhooks, the sandbox).
    Public,
    /// Anyone, rate-limited by client address (login, refresh).
    Anonymous,
    /// A merchant principal (key pair or merchant user); operators are refused.
    Merchant,
    /// A merchant principal or an operator.
    MerchantOrAdmin,
    /// Operators only.
    Admin,
}

/// What a suspended merchant may do on a route (F3): one check in the pipeline reads this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhileSuspended {
    /// Still allowed (reads, ending a session).
    Allowed,
    /// Refused with `MERCHANT_SUSPENDED` (payments, refunds, key rotation: anything that moves
    /// money or changes who can act for the merchant).
    Refused,
}

/// One HTTP route.
pub struct Route {
    /// The method.
    pub method: Method,
    /// The path template, e.g. `/api/v1/merchant/{id}`.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Whether a suspended merchant may call it: reads by default, writes refused unless the
    /// route says otherwise.
    pub while_suspended: WhileSuspended,
    /// One line for the docs.
    pub summary: &'static str,
    /// The handler.
    pub handler: Handler,
    /// The handler's module and name (`pay.create`): the API document's `operationId`.
    pub operation: &'static str,
    /// What it takes and answers, for the API document.
    pub api: Api,
}

/// What invokes a function.
pub enum Trigger {
    /// API Gateway requests on these routes.
    Http(&'static [Route]),
    /// Batches from this queue (SQS in AWS, the PostgreSQL queue locally).
    Worker {
        /// The queue (its dead-letter queue is `<queue>-dlq`).
        queue: &'static str,
        /// The handler.
        handler: WorkerHandler,
    },
    /// A schedule (EventBridge Scheduler in AWS, a timer locally).
    Schedule {
        /// `rate(…)` or `cron(…)`.
        expression: &'static str,
        /// IANA time zone of a cron expression.
        timezone: &'static str,
        /// The handler.
        handler: ScheduleHandler,
    },
}

/// One Lambda function.
pub struct Function {
    /// Binary name (`functions/src/bin/<name>.rs`) and SAM `BuildProperties.Binary`.
    pub name: &'static str,
    /// One line for the docs.
    pub description: &'static str,
    /// What invokes it.
    pub trigger: Trigger,
    /// What it may touch beyond the database.
    pub grants: Grants,
    /// The adapters its Lambda builds, chosen from `grants` at compile time (see `function!`).
    adapters: Adapters,
}

/// What a function may touch beyond its database. `template.yaml` grants it exactly this (a test
/// holds the two together both ways), and its Lambda links only the adapters named here.
#[derive(Debug, Clone, Copy)]
pub struct Grants {
    /// Queues it sends jobs to (SQS `GetQueueUrl` and `SendMessage`). A worker's own queue, which
    /// it consumes through its event source, is in its trigger.
    pub sends_to: &'static [&'static str],
    /// Whether it publishes domain events (EventBridge `PutEvents` on the platform's bus).
    pub publishes_events: bool,
    /// Whether it calls payment gateways (the connectors; outbound HTTPS, no IAM grant).
    pub calls_gateways: bool,
    /// Whether it reads the depth of every worker queue and its dead-letter queue (SQS
    /// `GetQueueUrl` and `GetQueueAttributes` on each of `queues::ALL` and its `-dlq`).
    pub inspects_queues: bool,
    /// Whether it administers every worker queue: sends dead letters back (SQS `SendMessage` to
    /// each of `queues::ALL`, `ReceiveMessage`, `DeleteMessage`, `ChangeMessageVisibility` and
    /// `StartMessageMoveTask` on each `-dlq`) and pauses workers (Lambda
    /// `ListEventSourceMappings` and `UpdateEventSourceMapping`). Implies `inspects_queues`.
    pub administers_queues: bool,
}

impl Grants {
    /// Nothing beyond the database.
    pub const NONE: Grants = Grants {
        sends_to: &[],
        publishes_events: false,
        calls_gateways: false,
        inspects_queues: false,
        administers_queues: false,
    };

    /// The adapters these grants ask for. Evaluated when the registry's statics are built, so
    /// an entry holds only the constructors it names and a binary references no other.
    const fn adapters(&self) -> Adapters {
        let sqs = !self.sends_to.is_empty() || self.inspects_queues || self.administers_queues;
        Adapters {
            gateways: if self.calls_gateways {
                Some(Gateways::new as GatewaysFn)
            } else {
                None
            },
            aws: match (sqs, self.publishes_events) {
                (true, true) => Some(aws::sqs_and_eventbridge),
                (true, false) => Some(aws::sqs),
                (false, true) => Some(aws::eventbridge),
                (false, false) => None,
            },
            consumers: if self.administers_queues {
                Some(aws::lambda_consumers as ConsumersFn)
            } else {
                None
            },
        }
    }
}

impl Function {
    /// The adapters its Lambda builds (the local runner and the tests build them all).
    pub fn adapters(&self) -> Adapters {
        self.adapters
    }

    /// Its HTTP routes (empty for workers and schedules).
    pub fn routes(&self) -> &'static [Route] {
        match self.trigger {
            Trigger::Http(routes) => routes,
            Trigger::Worker { .. } | Trigger::Schedule { .. } => &[],
        }
    }
}

// An entry: the adapters are derived from the grants here, in the static's initializer, so the two
// cannot disagree and the choice costs nothing at run time.
macro_rules! function {
    (name: $name:literal, description: $description:literal, trigger: $trigger:expr, grants: $grants:expr $(,)?) => {
        Function {
            name: $name,
            description: $description,
            trigger: $trigger,
            grants: $grants,
            adapters: $grants.adapters(),
        }
    };
}

// A suspended merchant may read (GET) and nothing else unless a route names `Allowed` itself.
macro_rules! suspended_default {
    (GET) => {
        WhileSuspended::Allowed
    };
    ($other:ident) => {
        WhileSuspended::Refused
    };
}

macro_rules! route {
    (@build $method:ident $path:literal, $access:ident, $summary:literal, $module:ident::$name:ident, $while:expr, $api:expr) => {
        Route {
            method: Method::$method,
            path: $path,
            access: Access::$access,
            while_suspended: $while,
            summary: $summary,
            handler: |app, ctx| Box::pin($module::$name(app, ctx)),
            // `pay::create` is `pay.create`.
            operation: concat!(stringify!($module), ".", stringify!($name)),
            api: $api,
        }
    };
    ($method:ident $path:literal, $access:ident, $summary:literal, $module:ident::$name:ident, suspended: $while:ident, $api:expr) => {
        route!(@build $method $path, $access, $summary, $module::$name, WhileSuspended::$while, $api)
    };
    ($method:ident $path:literal, $access:ident, $summary:literal, $module:ident::$name:ident, $api:expr) => {
        route!(@build $method $path, $access, $summary, $module::$name, suspended_default!($method), $api)
    };
}

/// `health`: Liveness check.
pub static HEALTH: Function = function! {
    name: "health",
    description: "Liveness check",
    trigger: Trigger::Http(&[
        route!(GET "/api/health", Unmetered, "Liveness: the function answers", health::get, Api::data::<health::Health>(200)),
    ]),
    grants: Grants::NONE,
};

/// `auth-login`: Dashboard login with email and password.
pub static AUTH_LOGIN: Function = function! {
    name: "auth-login",
    description: "Dashboard login with email and password",
    trigger: Trigger::Http(&[
        route!(POST "/api/v1/auth/login", Anonymous, "Exchange email and password for tokens", auth::login, Api::data::<auth::TokensView<'static>>(200).takes::<auth::LoginRequest>().fails(&[ErrorCode::Unauthorized])),
    ]),
    grants: Grants::NONE,
};

/// `auth-refresh`: Rotate a refresh token.
pub static AUTH_REFRESH: Function = function! {
    name: "auth-refresh",
    description: "Rotate a refresh token",
    trigger: Trigger::Http(&[
        route!(POST "/api/v1/auth/refresh", Anonymous, "Exchange a refresh token for new tokens", auth::refresh, Api::data::<auth::TokensView<'static>>(200).takes::<auth::RefreshRequest>().fails(&[ErrorCode::Unauthorized])),
    ]),
    grants: Grants::NONE,
};

/// `auth-session`: The logged-in user's session and second factor.
pub static AUTH_SESSION: Function = function! {
    name: "auth-session",
    description: "The logged-in user's session and second factor",
    trigger: Trigger::Http(&[
        route!(POST "/api/v1/auth/logout", MerchantOrAdmin, "End the caller's session", auth::logout, suspended: Allowed, Api::data::<auth::LoggedOut>(200).session_only()),
        route!(POST "/api/v1/auth/mfa/totp", MerchantOrAdmin, "Start TOTP enrolment; the secret is shown once", auth::start_totp, suspended: Allowed, Api::data::<auth::EnrolmentView<'static>>(201).session_only().fails(&[ErrorCode::Conflict])),
        route!(POST "/api/v1/auth/mfa/totp/confirm", MerchantOrAdmin, "Confirm TOTP enrolment with a code", auth::confirm_totp, suspended: Allowed, Api::data::<auth::MfaEnabled>(200).takes::<auth::ConfirmRequest>().session_only()),
    ]),
    grants: Grants::NONE,
};

/// `merchant-get`: A merchant's profile and active keys.
pub static MERCHANT_GET: Function = function! {
    name: "merchant-get",
    description: "A merchant's profile and active keys",
    trigger: Trigger::Http(&[
        route!(GET "/api/v1/merchant/{id}", MerchantOrAdmin, "Read a merchant", merchant::get, Api::data::<merchant::MerchantView>(200)),
    ]),
    grants: Grants::NONE,
};

/// `merchant-credentials-regenerate`: Issue a new API key pair.
pub static MERCHANT_CREDENTIALS_REGENERATE: Function = function! {
    name: "merchant-credentials-regenerate",
    description: "Issue a new API key pair",
    trigger: Trigger::Http(&[route!(
        POST "/api/v1/merchant/credentials/regenerate",
        Merchant,
        "Replace the key pair of a mode; the secret is shown once",
        merchant::regenerate_credentials,
        Api::data::<merchant::IssuedView>(201).may_take::<merchant::RegenerateRequest>()
    )]),
    grants: Grants::NONE,
};

/// `merchant-return-signing-secret`: The secret that signs the redirect to the merchant's return_url.
pub static MERCHANT_RETURN_SIGNING_SECRET: Function = function! {
    name: "merchant-return-signing-secret",
    description: "The secret that signs the redirect to the merchant's return_url",
    trigger: Trigger::Http(&[route!(
        POST "/api/v1/merchant/return-signing-secret",
        Merchant,
        "Create or rotate the caller's mode's return signing secret; shown once",
        return_signing::rotate,
        Api::data::<return_signing::IssuedSecret>(201)
    )]),
    grants: Grants::NONE,
};

/// `merchant-routing`: A merchant's own routing pool.
pub static MERCHANT_ROUTING: Function = function! {
    name: "merchant-routing",
    description: "A merchant's own routing pool",
    trigger: Trigger::Http(&[
        route!(GET "/api/v1/merchant/routing", Merchant, "The caller's routing pool in its mode (no credentials; no labels or caps of platform accounts)", merchant_routing::get, Api::data::<MerchantPool>(200)),
    ]),
    grants: Grants::NONE,
};

/// `admin-merchants`: Operators manage merchants.
pub static ADMIN_MERCHANTS: Function = function! {
    name: "admin-merchants",
    description: "Operators manage merchants",
    trigger: Trigger::Http(&[
        route!(POST "/api/v1/admin/merchants", Admin, "Onboard a merchant", admin_merchants::create, Api::data::<admin_merchants::Created>(201).takes::<CreateMerchant>().links(&[
            Link::by_id("ReadMerchant", "admin_merchants.get"),
            Link::by_id("UpdateMerchant", "admin_merchants.update"),
            Link::by_id("SuspendMerchant", "admin_merchants.suspend"),
            Link::by_id("ReactivateMerchant", "admin_merchants.reactivate"),
            Link::by_id("ReadMerchantWithKeys", "merchant.get"),
        ]).fails(&[ErrorCode::Conflict])),
        route!(GET "/api/v1/admin/merchants", Admin, "List merchants", admin_merchants::list, Api::page::<Merchant>().query::<admin_merchants::ListQuery>()),
        route!(GET "/api/v1/admin/merchants/{id}", Admin, "Read a merchant", admin_merchants::get, Api::data::<Merchant>(200)),
        route!(PATCH "/api/v1/admin/merchants/{id}", Admin, "Change name, live mode or rate limit", admin_merchants::update, Api::data::<Merchant>(200).takes::<UpdateMerchant>()),
        route!(POST "/api/v1/admin/merchants/{id}/suspend", Admin, "Suspend a merchant", admin_merchants::suspend, Api::data::<Merchant>(200).takes::<SuspendMerchant>()),
        route!(POST "/api/v1/admin/merchants/{id}/reactivate", Admin, "Lift a suspension", admin_merchants::reactivate, Api::data::<Merchant>(200)),
    ]),
    grants: Grants::NONE,
};

/// `admin-users`: Operators manage dashboard users.
pub static ADMIN_USERS: Function = function! {
    name: "admin-users",
    description: "Operators manage dashboard users",
    trigger: Trigger::Http(&[
        route!(POST "/api/v1/admin/users/{id}/unlock", Admin, "Lift a lockout after failed logins (audited)", admin_users::unlock, Api::data::<admin_users::Unlocked>(200)),
    ]),
    grants: Grants::NONE,
};

/// `admin-gateways`: Operators manage gateway accounts.
pub static ADMIN_GATEWAYS: Function = function! {
    name: "admin-gateways",
    description: "Operators manage gateway accounts",
    trigger: Trigger::Http(&[
        route!(POST "/api/v1/admin/gateways", Admin, "Add a gateway account (credentials sealed)", admin_gateways::create, Api::data::<GatewayAccountView>(201).takes::<AddGatewayAccount>().links(&[
            Link::by_id("ReadGatewayAccount", "admin_gateways.get"),
            Link::by_id("CheckGatewayAccount", "admin_gateways.check"),
        ])),
        route!(GET "/api/v1/admin/gateways", Admin, "List gateway accounts", admin_gateways::list, Api::page::<GatewayAccountView>().query::<admin_gateways::ListQuery>()),
        // Before `/api/v1/admin/gateways/{id}`: routes are matched in this order, and `health`
        // is not an account id.
        route!(GET "/api/v1/admin/gateways/health", Admin, "Every account's circuit breaker and latest health window", admin_gateways::health, Api::list::<GatewayHealth>()),
        route!(GET "/api/v1/admin/gateways/{id}", Admin, "Read a gateway account", admin_gateways::get, Api::data::<GatewayAccountView>(200)),
        route!(PUT "/api/v1/admin/gateways/{id}", Admin, "Change label, fees, amount limits, status or credentials (audited)", admin_gateways::update, Api::data::<GatewayAccountView>(200).takes::<UpdateGatewayAccount>().fails(&[ErrorCode::Conflict])),
        route!(DELETE "/api/v1/admin/gateways/{id}", Admin, "Archive an account with no payment or refund in flight (audited; never erased)", admin_gateways::archive, Api::data::<GatewayAccountView>(200).fails(&[ErrorCode::Conflict])),
        route!(POST "/api/v1/admin/gateways/{id}/check", Admin, "Check its credentials without moving money", admin_gateways::check, Api::data::<admin_gateways::CheckResult>(200)),
    ]),
    grants: Grants {
        sends_to: &[],
        publishes_events: false,
        calls_gateways: true,
        inspects_queues: false,
        administers_queues: false,
    },
};

/// `admin-routing`: Operators edit merchants' routing pools.
pub static ADMIN_ROUTING: Function = function! {
    name: "admin-routing",
    description: "Operators edit merchants' routing pools",
    trigger: Trigger::Http(&[
        route!(GET "/api/v1/admin/merchants/{id}/routing", Admin, "Read a merchant's routing pool", admin_routing::get, Api::data::<Pool>(200)),
        route!(PUT "/api/v1/admin/merchants/{id}/routing", Admin, "Replace the pool's mode and members at the version read (audited)", admin_routing::replace, Api::data::<Pool>(200).takes::<ReplacePool>().fails(&[ErrorCode::Conflict])),
        route!(PATCH "/api/v1/admin/merchants/{id}/routing/priorities", Admin, "Change the priorities of pool members at the version read (audited)", admin_routing::change_priorities, Api::data::<Pool>(200).takes::<ChangePriorities>().fails(&[ErrorCode::Conflict])),
    ]),
    grants: Grants::NONE,
};

/// `admin-fees`: Operators set merchants' fees.
pub static ADMIN_FEES: Function = function! {
    name: "admin-fees",
    description: "Operators set merchants' fees",
    trigger: Trigger::Http(&[
        route!(GET "/api/v1/admin/merchants/{id}/fees", Admin, "A merchant's fee schedule, with the platform's default", fees::admin_get, Api::data::<FeeSchedule>(200)),
        route!(PUT "/api/v1/admin/merchants/{id}/fees", Admin, "Replace a merchant's fee schedule: default, per-method rates, refund fee policy (audited)", fees::replace, Api::data::<FeeSchedule>(200).takes::<ReplaceFees>()),
    ]),
    grants: Grants::NONE,
};

/// `merchant-fees`: A merchant's own fees.
pub static MERCHANT_FEES: Function = function! {
    name: "merchant-fees",
    description: "A merchant's own fees",
    trigger: Trigger::Http(&[
        route!(GET "/api/v1/merchant/fees", Merchant, "The caller's fee schedule", fees::own, Api::data::<FeeSchedule>(200)),
    ]),
    grants: Grants::NONE,
};

/// `admin-affiliates`: Operators manage affiliates and link merchants to them.
pub static ADMIN_AFFILIATES: Function = function! {
    name: "admin-affiliates",
    description: "Operators manage affiliates and link merchants to them",
    trigger: Trigger::Http(&[
        route!(POST "/api/v1/admin/affiliates", Admin, "Add an affiliate (audited)", affiliates::create, Api::data::<Affiliate>(201).takes::<NewAffiliate>().links(&[
            Link::by_id("ReadAffiliate", "affiliates.get"),
        ]).fails(&[ErrorCode::Conflict])),
        route!(GET "/api/v1/admin/affiliates", Admin, "List affiliates", affiliates::list, Api::page::<Affiliate>().query::<affiliates::ListQuery>()),
        route!(GET "/api/v1/admin/affiliates/{id}", Admin, "Read an affiliate with its accrued commission and its merchants", affiliates::get, Api::data::<AffiliateDetail>(200)),
        route!(PUT "/api/v1/admin/merchants/{id}/affiliate", Admin, "Link a merchant to an affiliate, or relink it, with a commission in basis points of our fee (audited)", affiliates::link, Api::data::<AffiliateMerchant>(200).takes::<LinkAffiliate>()),
        route!(DELETE "/api/v1/admin/merchants/{id}/affiliate", Admin, "End a merchant's link to its affiliate (audited; accrued commission stays)", affiliates::unlink, Api::data::<AffiliateMerchant>(200)),
    ]),
    grants: Grants::NONE,
};

/// `admin-ledger`: Operators read the books and resolve suspense.
pub static ADMIN_LEDGER: Function = function! {
    name: "admin-ledger",
    description: "Operators read the books and resolve suspense",
    trigger: Trigger::Http(&[
        route!(GET "/api/v1/admin/ledger/accounts", Admin, "Ledger accounts with their debits, credits, balance and line count", ledger::accounts, Api::page::<AccountView>().query::<ledger::AccountsQuery>()),
        route!(GET "/api/v1/admin/ledger/entries", Admin, "Ledger entries with their lines, newest first", ledger::entries, Api::page::<EntryView>().query::<ledger::EntriesQuery>()),
        route!(GET "/api/v1/admin/ledger/trial-balance", Admin, "The trial balance of a mode's books, from the accounts and cross-checked against the lines", ledger::trial_balance, Api::data::<TrialBalance>(200).query::<ledger::TrialBalanceQuery>()),
        route!(GET "/api/v1/admin/ledger/suspense", Admin, "Money captured that no payment could take, held in suspense and not yet resolved, newest first", ledger::suspense, Api::page::<SuspenseItem>().query::<ledger::SuspenseQuery>()),
        route!(POST "/api/v1/admin/ledger/suspense/{attempt_id}/resolve", Admin, "Resolve an attempt's suspense once: refunded at the gateway (back to its clearing) or credited to the merchant's payable with no fee (payment currency only); audited, resolves its amount-mismatch alert", ledger::resolve_suspense, Api::data::<EntryView>(200).takes::<ResolveSuspense>().fails(&[ErrorCode::Conflict, ErrorCode::CurrencyMismatch])),
    ]),
    grants: Grants::NONE,
};

/// `pay`: Create a payment.
pub static PAY: Function = function! {
    name: "pay",
    description: "Create a payment",
    trigger: Trigger::Http(&[
        route!(POST "/api/v1/pay", Merchant, "Create a payment; answers its checkout_url", pay::create, Api::data::<TransactionView>(201).takes::<PayRequest>().idempotent().links(&[
            Link::by_id("ReadPayment", "transactions.get"),
            Link::by_id("RefundPayment", "refunds.create"),
            Link::by_id("ListRefunds", "refunds.list"),
            Link::by_id("OpenCheckout", "checkout.page_for"),
        ]).fails(&[ErrorCode::DuplicateOrderId, ErrorCode::GatewayUnavailable, ErrorCode::WalletBalanceLow])),
    ]),
    grants: Grants {
        sends_to: &[queues::TRANSACTION_PROCESSOR],
        publishes_events: true,
        calls_gateways: false,
        inspects_queues: false,
        administers_queues: false,
    },
};

/// `transactions`: Read payments.
pub static TRANSACTIONS: Function = function! {
    name: "transactions",
    description: "Read payments",
    trigger: Trigger::Http(&[
        route!(GET "/api/v1/transactions", MerchantOrAdmin, "List payments", transactions::list, Api::page::<TransactionView>().query::<transactions::ListQuery>()),
        route!(GET "/api/v1/transactions/{id}", MerchantOrAdmin, "Read a payment with its attempts", transactions::get, Api::data::<transactions::TransactionDetail>(200)),
    ]),
    grants: Grants::NONE,
};

/// `refunds`: Refund captured payments.
pub static REFUNDS: Function = function! {
    name: "refunds",
    description: "Refund captured payments",
    trigger: Trigger::Http(&[
        route!(POST "/api/v1/transactions/{id}/refunds", Merchant, "Refund part or all of a captured payment", refunds::create, Api::data::<RefundView>(201).may_take::<RefundBody>().idempotent().links(&[Link::by_id("ReadRefund", "refunds.get")]).fails(&[ErrorCode::RefundNotAllowed, ErrorCode::RefundExceedsCaptured])),
        route!(GET "/api/v1/transactions/{id}/refunds", MerchantOrAdmin, "A payment's refunds", refunds::list, Api::page::<RefundView>()),
        route!(GET "/api/v1/refunds/{id}", MerchantOrAdmin, "Read a refund", refunds::get, Api::data::<RefundView>(200)),
    ]),
    grants: Grants {
        sends_to: &[queues::REFUND_PROCESSOR],
        publishes_events: true,
        calls_gateways: false,
        inspects_queues: false,
        administers_queues: false,
    },
};

/// `checkout`: The hosted checkout page and the gateways' browser return.
pub static CHECKOUT: Function = function! {
    name: "checkout",
    description: "The hosted checkout page and the gateways' browser return",
    trigger: Trigger::Http(&[
        route!(GET "/api/v1/checkout/{id}", Public, "Hand the customer to the gateway", checkout::page_for, Api::html()),
        route!(GET "/api/v1/checkout/{id}/return", Public, "Gateway browser return (GET)", checkout::browser_return, Api::redirect()),
        route!(POST "/api/v1/checkout/{id}/return", Public, "Gateway browser return (form POST)", checkout::browser_return_form, Api::redirect().callback()),
        route!(POST "/api/v1/checkout/{id}/retry", Public, "Try a failed payment again (the checkout page's button)", checkout::retry, Api::redirect()),
    ]),
    grants: Grants {
        // A capture applied from a browser return that debits a wallet has it checked at once.
        sends_to: &[queues::WHATSAPP_SENDER, queues::SLACK_SENDER, queues::WALLET_BALANCE],
        publishes_events: true,
        calls_gateways: true,
        inspects_queues: false,
        administers_queues: false,
    },
};

/// `webhooks`: Signed server-to-server events from gateways.
pub static WEBHOOKS: Function = function! {
    name: "webhooks",
    description: "Signed server-to-server events from gateways",
    trigger: Trigger::Http(&[
        route!(POST "/api/v1/webhooks/{provider}/{account_id}", Public, "Receive a gateway event for one account (the notify URL of new orders)", webhooks::receive, Api::data::<webhooks::Received>(200).callback().fails(&[ErrorCode::Unauthorized])),
        route!(POST "/api/v1/webhooks/{provider}", Public, "Receive a gateway event (older provider-wide path)", webhooks::receive_provider_wide, Api::data::<webhooks::Received>(200).callback().fails(&[ErrorCode::Unauthorized])),
    ]),
    grants: Grants {
        sends_to: &[queues::WEBHOOK_PROCESSOR],
        publishes_events: false,
        calls_gateways: true,
        inspects_queues: false,
        administers_queues: false,
    },
};

/// `sandbox-gateway`: The built-in sandbox payment gateway.
pub static SANDBOX_GATEWAY: Function = function! {
    name: "sandbox-gateway",
    description: "The built-in sandbox payment gateway",
    trigger: Trigger::Http(&[
        route!(POST "/sandbox/v1/orders", Public, "Sandbox API: create an order", sandbox_gateway::create_order, Api::raw::<SandboxOrder>(200).takes::<CreateOrder>().sandbox_key().links(&[
            Link::sandbox_order("ReadOrder", "sandbox_gateway.get_order"),
            Link::sandbox_order("RefundOrder", "sandbox_gateway.create_refund"),
            Link::sandbox_order("ListRefunds", "sandbox_gateway.list_refunds"),
            Link::sandbox_order("OpenPayPage", "sandbox_gateway.pay_page"),
        ]).fails(&[ErrorCode::Unauthorized])),
        route!(GET "/sandbox/v1/orders", Public, "Sandbox API: orders by receipt", sandbox_gateway::find_orders, Api::raw::<SandboxOrders>(200).query::<sandbox_gateway::ByReceipt>().sandbox_key().fails(&[ErrorCode::Unauthorized])),
        route!(GET "/sandbox/v1/orders/{order_id}", Public, "Sandbox API: order status", sandbox_gateway::get_order, Api::raw::<SandboxOrder>(200).sandbox_key().fails(&[ErrorCode::Unauthorized])),
        route!(POST "/sandbox/v1/orders/{order_id}/refunds", Public, "Sandbox API: refund an order", sandbox_gateway::create_refund, Api::raw::<SandboxRefund>(200).takes::<CreateRefund>().sandbox_key().fails(&[ErrorCode::Unauthorized, ErrorCode::Conflict])),
        route!(GET "/sandbox/v1/orders/{order_id}/refunds", Public, "Sandbox API: an order's refunds", sandbox_gateway::list_refunds, Api::raw::<SandboxRefunds>(200).sandbox_key().fails(&[ErrorCode::Unauthorized])),
        route!(GET "/sandbox/pay/{order_id}", Public, "Sandbox pay page", sandbox_gateway::pay_page, Api::html()),
        route!(POST "/sandbox/pay/{order_id}", Public, "Sandbox pay page buttons", sandbox_gateway::submit, Api::redirect().form::<sandbox_gateway::Pressed>()),
    ]),
    grants: Grants::NONE,
};

/// `transaction-processor`: Creates gateway orders for new payments.
pub static TRANSACTION_PROCESSOR: Function = function! {
    name: "transaction-processor",
    description: "Creates gateway orders for new payments",
    trigger: Trigger::Worker {
        queue: queues::TRANSACTION_PROCESSOR,
        handler: |app, messages| Box::pin(jobs::transaction_processor(app, messages)),
    },
    grants: Grants {
        // Its own queue: a batch is sent again there during a database outage. A capture that
        // debits a merchant's wallet has it checked at once.
        sends_to: &[queues::TRANSACTION_PROCESSOR, queues::WHATSAPP_SENDER, queues::SLACK_SENDER, queues::WALLET_BALANCE],
        publishes_events: true,
        calls_gateways: true,
        inspects_queues: false,
        administers_queues: false,
    },
};

/// `refund-processor`: Asks gateways for new refunds.
pub static REFUND_PROCESSOR: Function = function! {
    name: "refund-processor",
    description: "Asks gateways for new refunds",
    trigger: Trigger::Worker {
        queue: queues::REFUND_PROCESSOR,
        handler: |app, messages| Box::pin(jobs::refund_processor(app, messages)),
    },
    grants: Grants {
        // Its own queue: a batch is sent again there during a database outage.
        sends_to: &[queues::REFUND_PROCESSOR],
        publishes_events: true,
        calls_gateways: true,
        inspects_queues: false,
        administers_queues: false,
    },
};

/// `webhook-processor`: Applies verified gateway events.
pub static WEBHOOK_PROCESSOR: Function = function! {
    name: "webhook-processor",
    description: "Applies verified gateway events",
    trigger: Trigger::Worker {
        queue: queues::WEBHOOK_PROCESSOR,
        handler: |app, messages| Box::pin(jobs::webhook_processor(app, messages)),
    },
    grants: Grants {
        // Its own queue: a batch is sent again there during a database outage. A capture that
        // debits a merchant's wallet has it checked at once.
        sends_to: &[queues::WEBHOOK_PROCESSOR, queues::WHATSAPP_SENDER, queues::SLACK_SENDER, queues::WALLET_BALANCE],
        publishes_events: true,
        calls_gateways: true,
        inspects_queues: false,
        administers_queues: false,
    },
};

/// `outbox-sweeper`: Publishes outbox rows the relay left behind.
pub static OUTBOX_SWEEPER: Function = function! {
    name: "outbox-sweeper",
    description: "Publishes outbox rows the relay left behind",
    trigger: Trigger::Schedule {
        expression: "rate(1 minute)",
        timezone: "UTC",
        handler: |app, tick| Box::pin(jobs::outbox_sweeper(app, tick)),
    },
    grants: Grants {
        sends_to: &[
            queues::TRANSACTION_PROCESSOR,
            queues::REFUND_PROCESSOR,
            queues::WEBHOOK_PROCESSOR,
            queues::WEBHOOK_DELIVERY,
            queues::WHATSAPP_SENDER,
            queues::SLACK_SENDER,
            queues::WALLET_BALANCE,
        ],
        publishes_events: true,
        calls_gateways: false,
        inspects_queues: false,
        administers_queues: false,
    },
};

/// `transaction-monitor`: Asks gateways about quiet payments and expires abandoned ones.
pub static TRANSACTION_MONITOR: Function = function! {
    name: "transaction-monitor",
    description: "Asks gateways about quiet payments and expires abandoned ones",
    trigger: Trigger::Schedule {
        expression: "rate(5 minutes)",
        timezone: "UTC",
        handler: |app, tick| Box::pin(jobs::transaction_monitor(app, tick)),
    },
    grants: Grants {
        sends_to: &[queues::WHATSAPP_SENDER, queues::SLACK_SENDER, queues::WALLET_BALANCE],
        publishes_events: true,
        calls_gateways: true,
        inspects_queues: false,
        administers_queues: false,
    },
};

/// `maintenance`: Deletes rows past their retention (counters, keys, activity, run records).
pub static MAINTENANCE: Function = function! {
    name: "maintenance",
    description: "Deletes rows past their retention (counters, keys, activity, run records)",
    trigger: Trigger::Schedule {
        expression: "rate(1 hour)",
        timezone: "UTC",
        handler: |app, tick| Box::pin(jobs::maintenance(app, tick)),
    },
    grants: Grants::NONE,
};

/// `archive`: Moves old final payments, with their attempts, refunds and gateway events, to the archive.
pub static ARCHIVE: Function = function! {
    name: "archive",
    description: "Moves old final payments, with their attempts, refunds and gateway events, to the archive",
    trigger: Trigger::Schedule {
        // 02:00 in India, the quietest hour of the platform's traffic.
        expression: "cron(0 2 * * ? *)",
        timezone: "Asia/Kolkata",
        handler: |app, tick| Box::pin(jobs::archive(app, tick)),
    },
    grants: Grants::NONE,
};

/// `gateway-health`: Measures gateway accounts' recent attempts and opens failing breakers.
pub static GATEWAY_HEALTH: Function = function! {
    name: "gateway-health",
    description: "Measures gateway accounts' recent attempts and opens failing breakers",
    trigger: Trigger::Schedule {
        expression: "rate(1 minute)",
        timezone: "UTC",
        handler: |app, tick| Box::pin(jobs::gateway_health(app, tick)),
    },
    grants: Grants::NONE,
};

/// `notification-recipients`: Who hears about notices on WhatsApp and Slack.
pub static NOTIFICATION_RECIPIENTS: Function = function! {
    name: "notification-recipients",
    description: "Who hears about notices on WhatsApp and Slack",
    trigger: Trigger::Http(&[
        route!(GET "/api/v1/merchant/notification-recipients", Merchant, "The caller's notification recipients (webhook URLs masked)", notifications::merchant_list, Api::list::<RecipientView>()),
        route!(POST "/api/v1/merchant/notification-recipients", Merchant, "Add a WhatsApp number, Slack webhook or Slack channel with its preferences", notifications::merchant_create, Api::data::<RecipientView>(201).takes::<NewRecipient>().fails(&[ErrorCode::Conflict])),
        route!(PATCH "/api/v1/merchant/notification-recipients/{id}", Merchant, "Change a recipient's label, kinds, minimum severity or enabled", notifications::merchant_update, Api::data::<RecipientView>(200).takes::<UpdateRecipient>()),
        route!(DELETE "/api/v1/merchant/notification-recipients/{id}", Merchant, "Remove a recipient", notifications::merchant_delete, Api::data::<RecipientView>(200)),
        route!(GET "/api/v1/admin/notification-recipients", Admin, "The operators' notification recipients (webhook URLs masked)", notifications::admin_list, Api::list::<RecipientView>()),
        route!(POST "/api/v1/admin/notification-recipients", Admin, "Add an operators' recipient (audited)", notifications::admin_create, Api::data::<RecipientView>(201).takes::<NewRecipient>().fails(&[ErrorCode::Conflict])),
        route!(PATCH "/api/v1/admin/notification-recipients/{id}", Admin, "Change an operators' recipient (audited)", notifications::admin_update, Api::data::<RecipientView>(200).takes::<UpdateRecipient>()),
        route!(DELETE "/api/v1/admin/notification-recipients/{id}", Admin, "Remove an operators' recipient (audited)", notifications::admin_delete, Api::data::<RecipientView>(200)),
    ]),
    grants: Grants::NONE,
};

/// `alerts`: Operators' alerts.
pub static ALERTS: Function = function! {
    name: "alerts",
    description: "Operators' alerts",
    trigger: Trigger::Http(&[
        route!(GET "/api/v1/alerts", Admin, "List alerts (filter by status, severity, kind, merchant)", alerts::list, Api::page::<AlertView>().query::<alerts::ListQuery>()),
        route!(GET "/api/v1/alerts/{id}", Admin, "Read an alert", alerts::get, Api::data::<AlertView>(200)),
        route!(POST "/api/v1/alerts/{id}/acknowledge", Admin, "Acknowledge an open alert (audited); repeats still count on it", alerts::acknowledge, Api::data::<AlertView>(200).fails(&[ErrorCode::Conflict])),
        route!(POST "/api/v1/alerts/{id}/resolve", Admin, "Resolve an alert (audited)", alerts::resolve, Api::data::<AlertView>(200).fails(&[ErrorCode::Conflict])),
    ]),
    grants: Grants::NONE,
};

/// `audit-logs`: The audit log: every entry for operators, its own for a merchant.
pub static AUDIT_LOGS: Function = function! {
    name: "audit-logs",
    description: "The audit log: every entry for operators, its own for a merchant",
    trigger: Trigger::Http(&[
        route!(GET "/api/v1/admin/audit-logs", Admin, "The audit log, newest first (filter by actor, action or action prefix, target, merchant, time)", audit_logs::admin_list, Api::page::<AuditEntry>().query::<audit_logs::AdminQuery>()),
        route!(GET "/api/v1/merchant/audit-logs", Merchant, "The entries about the caller's merchant, newest first (operators unnamed; some details withheld)", audit_logs::merchant_list, Api::page::<AuditEntry>().query::<audit_logs::MerchantQuery>()),
    ]),
    grants: Grants::NONE,
};

/// `whatsapp-webhook`: WhatsApp's subscription handshake and message statuses.
pub static WHATSAPP_WEBHOOK: Function = function! {
    name: "whatsapp-webhook",
    description: "WhatsApp's subscription handshake and message statuses",
    trigger: Trigger::Http(&[
        route!(GET "/api/v1/whatsapp/webhook", Public, "Subscription handshake: echoes hub.challenge when hub.verify_token is ours", notifications::whatsapp_verify, Api::text().fails(&[ErrorCode::Forbidden])),
        route!(POST "/api/v1/whatsapp/webhook", Public, "Message statuses, signed with X-Hub-Signature-256", notifications::whatsapp_receive, Api::data::<notifications::Applied>(200).callback().fails(&[ErrorCode::Unauthorized])),
    ]),
    grants: Grants::NONE,
};

/// `whatsapp-sender`: Sends queued WhatsApp template messages.
pub static WHATSAPP_SENDER: Function = function! {
    name: "whatsapp-sender",
    description: "Sends queued WhatsApp template messages",
    trigger: Trigger::Worker {
        queue: queues::WHATSAPP_SENDER,
        handler: |app, messages| Box::pin(jobs::whatsapp_sender(app, messages)),
    },
    grants: Grants {
        // Its own queue: a batch is sent again there during a database outage.
        sends_to: &[queues::WHATSAPP_SENDER],
        publishes_events: false,
        calls_gateways: false,
        inspects_queues: false,
        administers_queues: false,
    },
};

/// `slack-sender`: Sends queued Slack messages.
pub static SLACK_SENDER: Function = function! {
    name: "slack-sender",
    description: "Sends queued Slack messages",
    trigger: Trigger::Worker {
        queue: queues::SLACK_SENDER,
        handler: |app, messages| Box::pin(jobs::slack_sender(app, messages)),
    },
    grants: Grants {
        // Its own queue: a batch is sent again there during a database outage.
        sends_to: &[queues::SLACK_SENDER],
        publishes_events: false,
        calls_gateways: false,
        inspects_queues: false,
        administers_queues: false,
    },
};

/// `notification-retry`: Hands notifications whose next attempt came due back to their senders.
pub static NOTIFICATION_RETRY: Function = function! {
    name: "notification-retry",
    description: "Hands notifications whose next attempt came due back to their senders",
    trigger: Trigger::Schedule {
        expression: "rate(1 minute)",
        timezone: "UTC",
        handler: |app, tick| Box::pin(jobs::notification_retry(app, tick)),
    },
    grants: Grants {
        sends_to: &[queues::WHATSAPP_SENDER, queues::SLACK_SENDER],
        publishes_events: false,
        calls_gateways: false,
        inspects_queues: false,
        administers_queues: false,
    },
};

/// `alert-monitor`: Raises and clears alerts on breakers, queue backlog and age, and dead letters.
pub static ALERT_MONITOR: Function = function! {
    name: "alert-monitor",
    description: "Raises and clears alerts on breakers, queue backlog and age, and dead letters",
    trigger: Trigger::Schedule {
        expression: "rate(1 minute)",
        timezone: "UTC",
        handler: |app, tick| Box::pin(jobs::alert_monitor(app, tick)),
    },
    grants: Grants {
        sends_to: &[queues::WHATSAPP_SENDER, queues::SLACK_SENDER],
        publishes_events: false,
        calls_gateways: false,
        inspects_queues: true,
        administers_queues: false,
    },
};

/// `queue-metrics-recorder`: Records each worker queue's depth and its worker's work, per minute.
pub static QUEUE_METRICS_RECORDER: Function = function! {
    name: "queue-metrics-recorder",
    description: "Records each worker queue's depth and its worker's work, per minute",
    trigger: Trigger::Schedule {
        expression: "rate(1 minute)",
        timezone: "UTC",
        handler: |app, tick| Box::pin(monitors::queue_metrics_recorder(app, tick)),
    },
    grants: Grants {
        sends_to: &[],
        publishes_events: false,
        calls_gateways: false,
        inspects_queues: true,
        administers_queues: false,
    },
};

/// `worker-health-monitor`: Judges each worker's health and raises or clears its silent and failing alerts.
pub static WORKER_HEALTH_MONITOR: Function = function! {
    name: "worker-health-monitor",
    description: "Judges each worker's health and raises or clears its silent and failing alerts",
    trigger: Trigger::Schedule {
        expression: "rate(1 minute)",
        timezone: "UTC",
        handler: |app, tick| Box::pin(monitors::worker_health_monitor(app, tick)),
    },
    grants: Grants {
        sends_to: &[queues::WHATSAPP_SENDER, queues::SLACK_SENDER],
        publishes_events: false,
        calls_gateways: false,
        inspects_queues: true,
        administers_queues: false,
    },
};

/// `sla-monitor`: Raises and resolves alerts on payments pending past their SLA and overdue webhook deliveries.
pub static SLA_MONITOR: Function = function! {
    name: "sla-monitor",
    description: "Raises and resolves alerts on payments pending past their SLA and overdue webhook deliveries",
    trigger: Trigger::Schedule {
        expression: "rate(5 minutes)",
        timezone: "UTC",
        handler: |app, tick| Box::pin(monitors::sla_monitor(app, tick)),
    },
    grants: Grants {
        sends_to: &[queues::WHATSAPP_SENDER, queues::SLACK_SENDER],
        publishes_events: false,
        calls_gateways: false,
        inspects_queues: false,
        administers_queues: false,
    },
};

/// `merchant-webhooks`: A merchant's webhook endpoints.
pub static MERCHANT_WEBHOOKS: Function = function! {
    name: "merchant-webhooks",
    description: "A merchant's webhook endpoints",
    trigger: Trigger::Http(&[
        route!(POST "/api/v1/merchant/webhooks", Merchant, "Add a webhook endpoint for the caller's mode; its whsec_ secret is shown once", merchant_webhooks::create, Api::data::<WithSecret>(201).takes::<NewEndpoint>().links(&[
            Link::by_id("ReadWebhookEndpoint", "merchant_webhooks.get"),
        ]).fails(&[ErrorCode::Conflict])),
        route!(GET "/api/v1/merchant/webhooks", Merchant, "The caller's webhook endpoints", merchant_webhooks::list, Api::list::<EndpointView>()),
        route!(POST "/api/v1/merchant/webhooks/test", Merchant, "Send a signed webhook.test event to one endpoint now; answers the attempt", merchant_webhooks::test, Api::data::<TestOutcome>(200).takes::<TestRequest>().fails(&[ErrorCode::NotFound, ErrorCode::Conflict])),
        route!(GET "/api/v1/merchant/webhooks/{id}", Merchant, "Read a webhook endpoint", merchant_webhooks::get, Api::data::<EndpointView>(200)),
        route!(PATCH "/api/v1/merchant/webhooks/{id}", Merchant, "Change URL, event types, description or enabled", merchant_webhooks::update, Api::data::<EndpointView>(200).takes::<EndpointChanges>()),
        route!(DELETE "/api/v1/merchant/webhooks/{id}", Merchant, "Delete a webhook endpoint (its attempts stay on record)", merchant_webhooks::delete, Api::data::<EndpointView>(200)),
        route!(POST "/api/v1/merchant/webhooks/{id}/rotate-secret", Merchant, "New signing secret, shown once; the old one signs alongside it for 24 hours", merchant_webhooks::rotate_secret, Api::data::<WithSecret>(201)),
        route!(POST "/api/v1/merchant/webhooks/{id}/replay", Merchant, "Send one event, or every failed one since a time, again", merchant_webhooks::replay, Api::data::<Replayed>(202).takes::<Replay>().fails(&[ErrorCode::Conflict])),
        route!(GET "/api/v1/merchant/webhooks/{id}/attempts", Merchant, "An endpoint's delivery attempts (status, latency, the answer's first KB)", merchant_webhooks::attempts, Api::page::<AttemptView>()),
    ]),
    grants: Grants {
        // Replays go to the delivery worker; a test answered 410 disables the endpoint and
        // tells the merchant.
        sends_to: &[queues::WEBHOOK_DELIVERY, queues::WHATSAPP_SENDER, queues::SLACK_SENDER],
        publishes_events: false,
        calls_gateways: false,
        inspects_queues: false,
        administers_queues: false,
    },
};

/// `merchant-events`: The events a merchant's endpoints receive.
pub static MERCHANT_EVENTS: Function = function! {
    name: "merchant-events",
    description: "The events a merchant's endpoints receive",
    trigger: Trigger::Http(&[
        route!(GET "/api/v1/merchant/events", Merchant, "The caller's events, newest first (the body each delivery carried)", merchant_webhooks::list_events, Api::page::<EventView>().query::<merchant_webhooks::EventsQuery>()),
        route!(GET "/api/v1/merchant/events/{id}", Merchant, "Read an event", merchant_webhooks::get_event, Api::data::<EventView>(200)),
    ]),
    grants: Grants::NONE,
};

/// `admin-webhooks`: Operators oversee merchants' webhook endpoints.
pub static ADMIN_WEBHOOKS: Function = function! {
    name: "admin-webhooks",
    description: "Operators oversee merchants' webhook endpoints",
    trigger: Trigger::Http(&[
        route!(GET "/api/v1/admin/webhooks", Admin, "Every merchant's webhook endpoints, or one merchant's", merchant_webhooks::admin_list, Api::list::<EndpointView>().query::<merchant_webhooks::AdminListQuery>()),
        route!(POST "/api/v1/admin/webhooks/{id}/disable", Admin, "Disable a merchant's endpoint (audited; the merchant is told)", merchant_webhooks::admin_disable, Api::data::<EndpointView>(200).fails(&[ErrorCode::Conflict])),
    ]),
    grants: Grants {
        sends_to: &[queues::WHATSAPP_SENDER, queues::SLACK_SENDER],
        publishes_events: false,
        calls_gateways: false,
        inspects_queues: false,
        administers_queues: false,
    },
};

/// `webhook-delivery`: Delivers events to merchants' webhook endpoints.
pub static WEBHOOK_DELIVERY: Function = function! {
    name: "webhook-delivery",
    description: "Delivers events to merchants' webhook endpoints",
    trigger: Trigger::Worker {
        queue: queues::WEBHOOK_DELIVERY,
        handler: |app, messages| Box::pin(jobs::webhook_delivery(app, messages)),
    },
    grants: Grants {
        // Its own queue: a batch is sent again there during a database outage. A disabled
        // endpoint tells the merchant through the senders.
        sends_to: &[queues::WEBHOOK_DELIVERY, queues::WHATSAPP_SENDER, queues::SLACK_SENDER],
        publishes_events: false,
        calls_gateways: false,
        inspects_queues: false,
        administers_queues: false,
    },
};

/// `webhook-retry`: Sends webhook deliveries whose next attempt came due.
pub static WEBHOOK_RETRY: Function = function! {
    name: "webhook-retry",
    description: "Sends webhook deliveries whose next attempt came due",
    trigger: Trigger::Schedule {
        expression: "rate(1 minute)",
        timezone: "UTC",
        handler: |app, tick| Box::pin(jobs::webhook_retry(app, tick)),
    },
    grants: Grants {
        sends_to: &[queues::WHATSAPP_SENDER, queues::SLACK_SENDER],
        publishes_events: false,
        calls_gateways: false,
        inspects_queues: false,
        administers_queues: false,
    },
};

/// `wallets`: A merchant's prepaid wallet.
pub static WALLETS: Function = function! {
    name: "wallets",
    description: "A merchant's prepaid wallet",
    trigger: Trigger::Http(&[
        route!(GET "/api/v1/wallets", Merchant, "The caller's wallet in its mode: balance, thresholds, state, payable and movements (newest first)", wallets::get, Api::data::<WalletView>(200).query::<wallets::WalletQuery>()),
        route!(POST "/api/v1/wallets/top-ups", Merchant, "Top up the caller's wallet by paying through the platform's checkout; answers the payment's checkout_url", wallets::top_up, Api::data::<TransactionView>(201).takes::<NewCheckoutTopUp>().idempotent().links(&[
            Link::by_id("ReadPayment", "transactions.get"),
            Link::by_id("OpenCheckout", "checkout.page_for"),
        ]).fails(&[ErrorCode::GatewayUnavailable])),
    ]),
    grants: Grants {
        sends_to: &[queues::TRANSACTION_PROCESSOR],
        publishes_events: true,
        calls_gateways: false,
        inspects_queues: false,
        administers_queues: false,
    },
};

/// `admin-wallets`: Operators oversee merchants' wallets.
pub static ADMIN_WALLETS: Function = function! {
    name: "admin-wallets",
    description: "Operators oversee merchants' wallets",
    trigger: Trigger::Http(&[
        route!(GET "/api/v1/admin/merchants/{id}/wallet", Admin, "A merchant's wallet in one mode, with its movements", wallets::admin_get, Api::data::<WalletView>(200).query::<wallets::AdminWalletQuery>()),
        route!(PUT "/api/v1/admin/merchants/{id}/wallet", Admin, "Set a wallet's alert and suspension thresholds (audited)", wallets::admin_set, Api::data::<WalletView>(200).takes::<SetThresholds>()),
        route!(POST "/api/v1/admin/merchants/{id}/wallet/top-ups", Admin, "Record money received for a merchant's wallet and book it (audited)", wallets::admin_top_up, Api::data::<OperatorTopUpDone>(201).takes::<NewOperatorTopUp>().requires_idempotency_key().fails(&[ErrorCode::Conflict])),
    ]),
    grants: Grants {
        // The low-balance alert is raised or cleared at once, and notifies through the senders.
        sends_to: &[queues::WHATSAPP_SENDER, queues::SLACK_SENDER],
        publishes_events: false,
        calls_gateways: false,
        inspects_queues: false,
        administers_queues: false,
    },
};

/// `wallet-balance-monitor`: Checks a wallet a capture debited against its thresholds.
pub static WALLET_BALANCE_MONITOR: Function = function! {
    name: "wallet-balance-monitor",
    description: "Checks a wallet a capture debited against its thresholds",
    trigger: Trigger::Worker {
        queue: queues::WALLET_BALANCE,
        handler: |app, messages| Box::pin(jobs::wallet_balance_monitor(app, messages)),
    },
    grants: Grants {
        // Its own queue: a batch is sent again there during a database outage. Its alerts
        // notify through the senders.
        sends_to: &[queues::WALLET_BALANCE, queues::WHATSAPP_SENDER, queues::SLACK_SENDER],
        publishes_events: false,
        calls_gateways: false,
        inspects_queues: false,
        administers_queues: false,
    },
};

/// `low-balance-notifier`: Raises and clears low-balance alerts on every wallet.
pub static LOW_BALANCE_NOTIFIER: Function = function! {
    name: "low-balance-notifier",
    description: "Raises and clears low-balance alerts on every wallet",
    trigger: Trigger::Schedule {
        expression: "rate(15 minutes)",
        timezone: "UTC",
        handler: |app, tick| Box::pin(jobs::low_balance_notifier(app, tick)),
    },
    grants: Grants {
        sends_to: &[queues::WHATSAPP_SENDER, queues::SLACK_SENDER],
        publishes_events: false,
        calls_gateways: false,
        inspects_queues: false,
        administers_queues: false,
    },
};

/// `admin-queues`: Operators run the worker queues.
pub static ADMIN_QUEUES: Function = function! {
    name: "admin-queues",
    description: "Operators run the worker queues",
    trigger: Trigger::Http(&[
        route!(GET "/api/v1/admin/queues", Admin, "Every worker queue with its worker, dead-letter queue and whether it is paused", admin_queues::list, Api::list::<QueueView>()),
        route!(GET "/api/v1/admin/queues/stats", Admin, "Per queue: visible, in flight, delayed, dead letters, oldest message age (not on SQS), processed and failed per minute, paused", admin_queues::stats, Api::list::<QueueStats>()),
        route!(POST "/api/v1/admin/queues/pause", Admin, "Stop a queue's worker from taking messages; they wait in the queue (audited)", admin_queues::pause, Api::data::<QueueView>(200).takes::<QueueSwitch>()),
        route!(POST "/api/v1/admin/queues/resume", Admin, "Let a paused queue's worker take messages again (audited)", admin_queues::resume, Api::data::<QueueView>(200).takes::<QueueSwitch>()),
        route!(POST "/api/v1/admin/queues/retry", Admin, "Send a queue's dead letters, all or by id, back to it (audited)", admin_queues::retry, Api::data::<Retried>(200).takes::<RetryRequest>()),
        route!(POST "/api/v1/admin/queues/clean", Admin, "Count (dry run) a queue's dead letters older than an age, or purge exactly the set a dry run counted (audited)", admin_queues::clean, Api::data::<Cleaned>(200).takes::<CleanRequest>().fails(&[ErrorCode::Conflict])),
        route!(GET "/api/v1/admin/queues/{queue}/dead-letters", Admin, "A queue's dead letters, oldest first, with their last error; left in place", admin_queues::dead_letters, Api::list::<DeadLetterView>().query::<admin_queues::PeekQuery>()),
    ]),
    grants: Grants {
        sends_to: &[],
        publishes_events: false,
        calls_gateways: false,
        inspects_queues: true,
        administers_queues: true,
    },
};

/// `system-status`: The platform's health: database, queues, workers, gateways, schedules, alerts.
pub static SYSTEM_STATUS: Function = function! {
    name: "system-status",
    description: "The platform's health: database, queues, workers, gateways, schedules, alerts",
    trigger: Trigger::Http(&[
        route!(GET "/api/v1/system/status", Admin, "Platform status: each component and the verdict ok, degraded or down (503 when down)", system::status, Api::data::<SystemStatus>(200).down_503()),
    ]),
    grants: Grants {
        sends_to: &[],
        publishes_events: false,
        calls_gateways: false,
        inspects_queues: true,
        administers_queues: false,
    },
};

/// `system-status-checker`: Files the platform status every ten minutes.
pub static SYSTEM_STATUS_CHECKER: Function = function! {
    name: "system-status-checker",
    description: "Files the platform status every ten minutes",
    trigger: Trigger::Schedule {
        expression: "rate(10 minutes)",
        timezone: "UTC",
        handler: |app, tick| Box::pin(system::checker(app, tick)),
    },
    grants: Grants {
        sends_to: &[],
        publishes_events: false,
        calls_gateways: false,
        inspects_queues: true,
        administers_queues: false,
    },
};

/// `system-health-report`: The previous IST day's health report, filed and sent to operators.
pub static SYSTEM_HEALTH_REPORT: Function = function! {
    name: "system-health-report",
    description: "The previous IST day's health report, filed and sent to operators",
    trigger: Trigger::Schedule {
        expression: "cron(0 6 * * ? *)",
        timezone: "Asia/Kolkata",
        handler: |app, tick| Box::pin(system::health_report(app, tick)),
    },
    grants: Grants {
        sends_to: &[queues::WHATSAPP_SENDER, queues::SLACK_SENDER],
        publishes_events: false,
        calls_gateways: false,
        inspects_queues: false,
        administers_queues: false,
    },
};

/// `docs`: The API document and the page to read it.
pub static DOCS: Function = function! {
    name: "docs",
    description: "The API document and the page to read it",
    trigger: Trigger::Http(&[
        route!(GET "/api/v1/openapi.json", Unmetered, "The OpenAPI 3.1 document of this API", docs::document, Api::raw::<docs::OpenApiDocument>(200)),
        route!(GET "/docs", Unmetered, "The API documentation page", docs::index, Api::redirect()),
        route!(GET "/docs/{file}", Unmetered, "A file of the documentation page", docs::file, Api::file()),
    ]),
    grants: Grants::NONE,
};

/// Every function of the platform: the local runner, the docs and the tests read this list; a
/// Lambda binary references only its own entry, so it links only its own handlers.
pub static FUNCTIONS: &[&Function] = &[
    &HEALTH,
    &AUTH_LOGIN,
    &AUTH_REFRESH,
    &AUTH_SESSION,
    &MERCHANT_GET,
    &MERCHANT_CREDENTIALS_REGENERATE,
    &MERCHANT_RETURN_SIGNING_SECRET,
    &MERCHANT_ROUTING,
    &ADMIN_MERCHANTS,
    &ADMIN_USERS,
    &ADMIN_GATEWAYS,
    &ADMIN_ROUTING,
    &ADMIN_FEES,
    &MERCHANT_FEES,
    &ADMIN_AFFILIATES,
    &ADMIN_LEDGER,
    &PAY,
    &TRANSACTIONS,
    &REFUNDS,
    &CHECKOUT,
    &WEBHOOKS,
    &SANDBOX_GATEWAY,
    &TRANSACTION_PROCESSOR,
    &REFUND_PROCESSOR,
    &WEBHOOK_PROCESSOR,
    &OUTBOX_SWEEPER,
    &TRANSACTION_MONITOR,
    &MAINTENANCE,
    &ARCHIVE,
    &GATEWAY_HEALTH,
    &MERCHANT_WEBHOOKS,
    &MERCHANT_EVENTS,
    &ADMIN_WEBHOOKS,
    &WEBHOOK_DELIVERY,
    &WEBHOOK_RETRY,
    &NOTIFICATION_RECIPIENTS,
    &WHATSAPP_WEBHOOK,
    &WHATSAPP_SENDER,
    &SLACK_SENDER,
    &NOTIFICATION_RETRY,
    &ALERTS,
    &AUDIT_LOGS,
    &ALERT_MONITOR,
    &QUEUE_METRICS_RECORDER,
    &WORKER_HEALTH_MONITOR,
    &SLA_MONITOR,
    &WALLETS,
    &ADMIN_WALLETS,
    &WALLET_BALANCE_MONITOR,
    &LOW_BALANCE_NOTIFIER,
    &ADMIN_QUEUES,
    &SYSTEM_STATUS,
    &SYSTEM_STATUS_CHECKER,
    &SYSTEM_HEALTH_REPORT,
    &DOCS,
];

/// Every scheduled job and its expression, as plain data for the status report (see
/// `queues::WORKERS`). A test holds it to `FUNCTIONS`.
pub static WATCHED_SCHEDULES: &[ScheduleSpec] = &[
    ScheduleSpec {
        name: "outbox-sweeper",
        expression: "rate(1 minute)",
    },
    ScheduleSpec {
        name: "transaction-monitor",
        expression: "rate(5 minutes)",
    },
    ScheduleSpec {
        name: "maintenance",
        expression: "rate(1 hour)",
    },
    ScheduleSpec {
        name: "archive",
        expression: "cron(0 2 * * ? *)",
    },
    ScheduleSpec {
        name: "gateway-health",
        expression: "rate(1 minute)",
    },
    ScheduleSpec {
        name: "webhook-retry",
        expression: "rate(1 minute)",
    },
    ScheduleSpec {
        name: "notification-retry",
        expression: "rate(1 minute)",
    },
    ScheduleSpec {
        name: "alert-monitor",
        expression: "rate(1 minute)",
    },
    ScheduleSpec {
        name: "queue-metrics-recorder",
        expression: "rate(1 minute)",
    },
    ScheduleSpec {
        name: "worker-health-monitor",
        expression: "rate(1 minute)",
    },
    ScheduleSpec {
        name: "sla-monitor",
        expression: "rate(5 minutes)",
    },
    ScheduleSpec {
        name: "low-balance-notifier",
        expression: "rate(15 minutes)",
    },
    ScheduleSpec {
        name: "system-status-checker",
        expression: "rate(10 minutes)",
    },
    ScheduleSpec {
        name: "system-health-report",
        expression: "cron(0 6 * * ? *)",
    },
];

/// The function called `name`.
pub fn find(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().copied().find(|f| f.name == name)
}

/// Every HTTP route of every function.
pub fn all_routes() -> Vec<&'static Route> {
    FUNCTIONS.iter().flat_map(|f| f.routes().iter()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_routes_are_unique() {
        let mut names: Vec<_> = FUNCTIONS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FUNCTIONS.len());
        let mut routes: Vec<_> = all_routes()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        let count = routes.len();
        routes.sort();
        routes.dedup();
        assert_eq!(routes.len(), count);
    }

    #[test]
    fn no_route_is_hidden_behind_another_template() {
        // `GET /api/v1/admin/gateways/health` must never be read as `/api/v1/admin/gateways/{id}`
        // with the id `health`: where two templates match one path, the resolver takes the more
        // specific, and each route must be that one for its own path.
        let routes = all_routes();
        for route in &routes {
            for other in &routes {
                if std::ptr::eq(*route, *other) || route.method != other.method {
                    continue;
                }
                assert!(
                    shared::http::path::match_template(other.path, route.path).is_none()
                        || crate::server::more_specific(route.path, other.path),
                    "{} {} would be taken by {}",
                    route.method,
                    route.path,
                    other.path
                );
            }
        }
    }

    #[test]
    fn every_function_has_a_binary_running_its_own_entry() {
        let manifest = include_str!("../Cargo.toml");
        let registry = include_str!("registry.rs");
        for f in FUNCTIONS {
            assert!(
                manifest.contains(&format!("name = \"{}\"", f.name)),
                "{} has no [[bin]]",
                f.name
            );
            // The entry's static is the function's name in capitals: the binary names it, and so
            // references no other entry.
            let entry = f.name.to_uppercase().replace('-', "_");
            assert!(
                registry.contains(&format!(
                    "pub static {entry}: Function = function! {{\n    name: \"{}\",",
                    f.name
                )),
                "the entry of {} is not the static {entry}",
                f.name
            );
            let runner = match f.trigger {
                Trigger::Http(_) => "run_http",
                Trigger::Worker { .. } => "run_worker",
                Trigger::Schedule { .. } => "run_schedule",
            };
            let path = format!("{}/src/bin/{}.rs", env!("CARGO_MANIFEST_DIR"), f.name);
            let source =
                std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{path} missing"));
            assert!(
                source.contains(&format!(
                    "functions::lambda::{runner}(&functions::registry::{entry})"
                )),
                "{path} does not run {} with {runner}",
                f.name
            );
        }
    }

    #[test]
    fn the_worker_list_is_the_registrys_workers() {
        let workers: Vec<queues::Worker> = FUNCTIONS
            .iter()
            .filter_map(|f| match f.trigger {
                Trigger::Worker { queue, .. } => Some(queues::Worker {
                    name: f.name,
                    queue,
                }),
                _ => None,
            })
            .collect();
        assert_eq!(
            queues::WORKERS,
            workers.as_slice(),
            "queues::WORKERS must list every worker, in the registry's order"
        );
        let worker_queues: Vec<&str> = workers.iter().map(|w| w.queue).collect();
        assert_eq!(
            queues::ALL,
            worker_queues.as_slice(),
            "queues::ALL must list every worker's queue"
        );
    }

    #[test]
    fn the_monitors_run_on_their_own_periods() {
        for (function, period) in [
            (
                &QUEUE_METRICS_RECORDER,
                shared::monitors::queue_metrics::PERIOD,
            ),
            (
                &WORKER_HEALTH_MONITOR,
                shared::monitors::worker_health::PERIOD,
            ),
            (&SLA_MONITOR, shared::monitors::sla::PERIOD),
        ] {
            let Trigger::Schedule { expression, .. } = function.trigger else {
                panic!("{} is not a schedule", function.name);
            };
            assert_eq!(
                shared::schedules::expression::Expression::parse(expression),
                Ok(shared::schedules::expression::Expression::Rate {
                    seconds: period.as_secs() as i64
                }),
                "{}: its late-run period must be its schedule's",
                function.name
            );
        }
    }

    #[test]
    fn the_status_report_watches_every_schedule() {
        let mut schedules: Vec<ScheduleSpec> = FUNCTIONS
            .iter()
            .filter_map(|f| match f.trigger {
                Trigger::Schedule { expression, .. } => Some(ScheduleSpec {
                    name: f.name,
                    expression,
                }),
                _ => None,
            })
            .collect();
        let mut watched = WATCHED_SCHEDULES.to_vec();
        schedules.sort_by_key(|s| s.name);
        watched.sort_by_key(|s| s.name);
        assert_eq!(
            schedules, watched,
            "WATCHED_SCHEDULES must list every schedule with its expression"
        );
    }

    #[test]
    fn adapters_follow_the_grants() {
        for f in FUNCTIONS {
            let adapters = f.adapters();
            assert_eq!(
                adapters.gateways.is_some(),
                f.grants.calls_gateways,
                "{}",
                f.name
            );
            assert_eq!(
                adapters.aws.is_some(),
                !f.grants.sends_to.is_empty()
                    || f.grants.publishes_events
                    || f.grants.inspects_queues
                    || f.grants.administers_queues,
                "{}",
                f.name
            );
            assert_eq!(
                adapters.consumers.is_some(),
                f.grants.administers_queues,
                "{}",
                f.name
            );
        }
    }
}
