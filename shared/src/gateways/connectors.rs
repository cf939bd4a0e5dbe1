//! Builds a provider's connector. The match is exhaustive: a provider added to [`Provider`]
//! without a connector does not compile.

use super::endpoints::Endpoints;
use super::{Gateway, Provider, cashfree, easebuzz, payu, phonepe, razorpay, sandbox, stripe};
use crate::config::Config;
use std::sync::Arc;

/// `provider`'s connector, talking HTTP through `client` to the hosts `config` names.
pub fn connector(
    provider: Provider,
    client: &reqwest::Client,
    config: &Config,
) -> Arc<dyn Gateway> {
    let client = client.clone();
    let endpoints = Endpoints::from_config(config, provider);
    match provider {
        Provider::Sandbox => Arc::new(sandbox::SandboxGateway::new(
            client,
            &config.sandbox_base_url,
        )),
        Provider::Razorpay => Arc::new(razorpay::Razorpay::new(client, endpoints)),
        Provider::PayU => Arc::new(payu::PayU::new(client, endpoints)),
        Provider::Cashfree => Arc::new(cashfree::Cashfree::new(client, endpoints)),
        Provider::PhonePe => Arc::new(phonepe::PhonePe::new(client, endpoints)),
        Provider::Easebuzz => Arc::new(easebuzz::Easebuzz::new(client, endpoints)),
        Provider::Stripe => Arc::new(stripe::Stripe::new(client, endpoints)),
    }
}
