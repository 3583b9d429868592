//! The cold-start baseline: the smallest lambda_http function, built with the
//! same lambda_http features, tokio runtime and release profile as ours. It
//! answers every request with 200 "hello" and reads no configuration.

use lambda_http::{run, service_fn, Body, Error, Request, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|_req: Request| async {
        Ok::<_, Error>(Response::new(Body::Text("hello".into())))
    }))
    .await
}
