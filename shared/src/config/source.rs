//! Where configuration comes from: SSM Parameter Store (the function's own
//! keys, by exact name), the environment, or values given in code.

use std::collections::HashMap;

use super::*;

/// Where configuration comes from.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// `GetParameters` for the function's keys under a prefix such as
    /// `/masked-comms/prod`.
    Ssm {
        client: aws_sdk_ssm::Client,
        prefix: String,
        function: Function,
    },
    /// The process environment.
    Env,
    /// Values given in code (tests and benchmarks of the store itself).
    Values(RawConfig),
}

/// `GetParameters` takes at most this many names per request; more go in
/// batches, all at once (one round trip).
pub const SSM_NAMES_PER_REQUEST: usize = 10;

impl ConfigSource {
    /// SSM when `SSM_PARAMETER_PREFIX` is set (and the AWS configuration
    /// loaded), otherwise the environment.
    pub fn from_env(function: Function, aws: Option<&aws_config::SdkConfig>) -> Self {
        match (std::env::var("SSM_PARAMETER_PREFIX"), aws) {
            (Ok(prefix), Some(aws)) if !prefix.trim().is_empty() => ConfigSource::Ssm {
                client: aws_sdk_ssm::Client::new(aws),
                prefix: prefix.trim().trim_end_matches('/').to_owned(),
                function,
            },
            _ => ConfigSource::Env,
        }
    }

    pub async fn load(&self) -> Result<RawConfig, ConfigError> {
        match self {
            ConfigSource::Env => Ok(RawConfig::from_env_vars(|name| std::env::var(name).ok())
                .running_locally(crate::callback_url::runs_locally())),
            ConfigSource::Values(raw) => Ok(raw.clone()),
            ConfigSource::Ssm {
                client,
                prefix,
                function,
            } => Ok(load_ssm(client, prefix, *function)
                .await?
                .running_locally(crate::callback_url::runs_locally())),
        }
    }
}

/// Reads the function's keys by exact name, in as few requests as SSM allows
/// (one for most functions), all at once. Absent optional keys come back as
/// "invalid parameters", which is not an error.
async fn load_ssm(
    client: &aws_sdk_ssm::Client,
    prefix: &str,
    function: Function,
) -> Result<RawConfig, ConfigError> {
    let names: Vec<String> = function
        .keys()
        .map(|k| format!("{prefix}/{}", k.ssm))
        .collect();
    let requests = names.chunks(SSM_NAMES_PER_REQUEST).map(|chunk| {
        client
            .get_parameters()
            .set_names(Some(chunk.to_vec()))
            .with_decryption(true)
            .send()
    });
    let mut values = HashMap::new();
    let strip = format!("{prefix}/");
    for answer in futures_util::future::join_all(requests).await {
        let answer = answer.map_err(|e| {
            ConfigError::Source(aws_sdk_ssm::error::DisplayErrorContext(e).to_string())
        })?;
        for parameter in answer.parameters.unwrap_or_default() {
            if let (Some(name), Some(value)) = (parameter.name, parameter.value) {
                if let Some(relative) = name.strip_prefix(&strip) {
                    values.insert(relative.to_owned(), value);
                }
            }
        }
    }
    Ok(RawConfig::from_ssm(values))
}
