//! Size attribution (never run): the hello-world baseline plus the SSM load the
//! functions do at init (`aws-config` + `aws-sdk-ssm`, GetParametersByPath).

use lambda_http::{run, service_fn, Body, Error, Request, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let aws = aws_config::load_from_env().await;
    let client = aws_sdk_ssm::Client::new(&aws);
    let page = client
        .get_parameters_by_path()
        .path("/probe")
        .with_decryption(true)
        .send()
        .await?;
    let count = page.parameters.unwrap_or_default().len();
    run(service_fn(move |_req: Request| async move {
        Ok::<_, Error>(Response::new(Body::Text(count.to_string())))
    }))
    .await
}
