//! Where a provider's APIs live. Each connector knows the real hosts of its test and live
//! environments; configuration may replace them, per environment, with one origin (the paths stay
//! the provider's own), which is how tests point a connector at a local mock server.

use crate::config::Config;
use crate::gateways::provider::Provider;
use crate::mode::Mode;
use std::time::Duration;

/// The real host of one of a provider's services in each environment.
#[derive(Debug, Clone, Copy)]
pub struct Hosts {
    /// Test (sandbox, UAT) environment.
    pub test: &'static str,
    /// Live environment.
    pub live: &'static str,
}

/// A provider's configured replacements for its hosts, and the time one call may take.
#[derive(Debug, Clone)]
pub struct Endpoints {
    test: Option<String>,
    live: Option<String>,
    /// How long one call may take.
    pub timeout: Duration,
}

impl Endpoints {
    /// The replacements configured for `provider`.
    pub fn from_config(config: &Config, provider: Provider) -> Endpoints {
        Endpoints {
            test: config.gateway_urls.get(&(provider, Mode::Test)).cloned(),
            live: config.gateway_urls.get(&(provider, Mode::Live)).cloned(),
            timeout: config.gateway_timeout,
        }
    }

    /// Replacements given directly (tests of a single connector).
    pub fn new(test: Option<String>, live: Option<String>, timeout: Duration) -> Endpoints {
        Endpoints {
            test,
            live,
            timeout,
        }
    }

    /// The base URL of `hosts` in `environment`.
    pub fn base(&self, environment: Mode, hosts: Hosts) -> &str {
        match environment {
            Mode::Test => self.test.as_deref().unwrap_or(hosts.test),
            Mode::Live => self.live.as_deref().unwrap_or(hosts.live),
        }
    }
}
