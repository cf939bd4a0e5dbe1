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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lookup_from;

    #[test]
    fn each_provider_gets_its_own_connector() {
        let config = Config::from_lookup(lookup_from(
            [
                ("DATABASE_URL", "postgres://lsp_app@127.0.0.1/db"),
                ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
                (
                    "ENCRYPTION_KEYS",
                    "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                ),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ))
        .unwrap();
        let client = reqwest::Client::new();
        for provider in Provider::ALL {
            assert_eq!(connector(provider, &client, &config).provider(), provider);
        }
    }
}
