//! Size attribution (never run): the hello-world baseline plus the phone-number
//! geography the functions use (`Location::of`, i.e. the `phonenumber` crate).

use lambda_http::{run, service_fn, Body, Error, Request, Response};
use masked_comms::domain::address::PhoneNumber;
use masked_comms::domain::geo::Location;

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|req: Request| async move {
        let located = PhoneNumber::parse(req.uri().path()).map(|n| Location::of(&n));
        Ok::<_, Error>(Response::new(Body::Text(format!("{located:?}"))))
    }))
    .await
}
