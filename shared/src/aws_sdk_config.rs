//! The AWS SDK's configuration as Lambda gives it: credentials, region and
//! an endpoint override from the environment, nothing else.
//!
//! `aws_config::from_env().load()` also links every other source it might
//! try (profile files, SSO, STS web identity, the ECS and IMDS endpoints)
//! into each binary, though on Lambda the environment always answers first.
//! Built by hand, only the environment provider is linked.

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ssm::config::{SharedCredentialsProvider, SharedHttpClient};

/// The variables read, in the order the SDK's own chain reads them.
const REGION: [&str; 2] = ["AWS_REGION", "AWS_DEFAULT_REGION"];
/// Local runs point the SDK at moto with it, as the SDK's chain allows.
const ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";

/// The SDK configuration from the process's environment; `http_client`
/// (the process's one set of trust roots) when given.
pub fn from_env(http_client: Option<SharedHttpClient>) -> SdkConfig {
    from_variables(|name| std::env::var(name).ok(), http_client)
}

/// As [`from_env`], with the variables read through `lookup`.
fn from_variables(
    lookup: impl Fn(&str) -> Option<String>,
    http_client: Option<SharedHttpClient>,
) -> SdkConfig {
    let variable = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(
            REGION
                .iter()
                .find_map(|name| variable(name))
                .map(Region::new),
        )
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ));
    if let Some(url) = variable(ENDPOINT_URL) {
        builder = builder.endpoint_url(url);
    }
    if let Some(client) = http_client {
        builder = builder.http_client(client);
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(variables: &[(&str, &str)]) -> SdkConfig {
        let lookup = |name: &str| {
            variables
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        from_variables(lookup, None)
    }

    #[test]
    fn the_region_and_endpoint_come_from_the_environment() {
        let local = config(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ]);
        assert_eq!(local.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(local.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert!(local.credentials_provider().is_some());
        assert!(local.behavior_version().is_some());
    }

    #[test]
    fn the_default_region_stands_in_and_blank_values_count_as_unset() {
        let lambda = config(&[
            ("AWS_REGION", " "),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", ""),
        ]);
        assert_eq!(lambda.region().map(|r| r.as_ref()), Some("us-east-1"));
        assert_eq!(lambda.endpoint_url(), None);
        assert_eq!(config(&[]).region(), None);
    }
}
