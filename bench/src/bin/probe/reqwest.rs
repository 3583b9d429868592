//! Size attribution (never run): the hello-world baseline plus the Twilio HTTP
//! client the functions use (`reqwest` with rustls).

use lambda_http::{run, service_fn, Body, Error, Request, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let client = reqwest::Client::builder().build()?;
    run(service_fn(move |req: Request| {
        let client = client.clone();
        async move {
            let text = client
                .get(format!("https://example.com{}", req.uri().path()))
                .send()
                .await?
                .text()
                .await?;
            Ok::<_, Error>(Response::new(Body::Text(text)))
        }
    }))
    .await
}
