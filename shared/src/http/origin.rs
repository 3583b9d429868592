//! Where a request was addressed, and whether a browser sent it from another
//! site: the base URL that Twilio signs, and the cross-site check on every
//! route that changes something.

use lambda_http::http::{header, Method};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use super::ApiError;

/// The domain `cargo lambda watch` puts in the request context; API Gateway
/// always names its real domain, so this one only ever means a local run.
const LOCAL_EMULATOR_DOMAIN: &str = "localhost";

/// The scheme and authority the request was addressed to, without a
/// trailing slash: `public-base-url` when configured (custom domains, local
/// runs), else the domain API Gateway received it on. Only a local run
/// (no API Gateway context, or cargo-lambda's) falls back to the `Host` and
/// `X-Forwarded-Proto` headers, which a caller can set to anything.
pub fn base_url(req: &Request, public_base_url: Option<&url::Url>) -> String {
    if let Some(base) = public_base_url {
        return base.as_str().trim_end_matches('/').to_owned();
    }
    match gateway_domain(req) {
        Some(domain) if domain != LOCAL_EMULATOR_DOMAIN => format!("https://{domain}"),
        _ => local_base_url(req),
    }
}

fn gateway_domain(req: &Request) -> Option<&str> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context.domain_name.as_deref(),
        // The only event source the stack declares is an HTTP API.
        _ => None,
    }
}

fn local_base_url(req: &Request) -> String {
    let headers = req.headers();
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .unwrap_or("https");
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or_default();
    format!("{scheme}://{host}")
}

/// Refuses a request that changes something when a browser sent it from
/// another site: a page elsewhere could otherwise submit a form to the API
/// and the browser would add the operator's remembered basic-auth login.
///
/// Browsers say where a request comes from (`Sec-Fetch-Site`, `Origin`);
/// clients that send neither (curl, backends) are not browsers and pass.
pub fn refuse_cross_site(
    req: &Request,
    public_base_url: Option<&url::Url>,
) -> Result<(), ApiError> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let header_text = |name: &str| {
        req.headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or("").trim().to_ascii_lowercase())
    };
    if let Some(site) = header_text("sec-fetch-site") {
        // `none`: typed into the address bar or a bookmark, not another page.
        if site != "same-origin" && site != "none" {
            return Err(ApiError::CrossSite);
        }
    }
    if let Some(origin) = header_text(header::ORIGIN.as_str()) {
        let own = base_url(req, public_base_url).to_ascii_lowercase();
        if !same_origin(&origin, &own) {
            return Err(ApiError::CrossSite);
        }
    }
    Ok(())
}

/// Compares two origins as browsers do: scheme, host and port, with default
/// ports made explicit. `null` (a sandboxed or privacy-sensitive context) is
/// never the same origin.
fn same_origin(origin: &str, own: &str) -> bool {
    let (Ok(a), Ok(b)) = (url::Url::parse(origin), url::Url::parse(own)) else {
        return false;
    };
    a.scheme() == b.scheme()
        && a.host_str().is_some()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
    use lambda_http::Body;

    fn request(method: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = lambda_http::http::Request::builder()
            .method(method)
            .uri("/sessions")
            .header("host", "api.example.com")
            .header("x-forwarded-proto", "https");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::Empty).unwrap()
    }

    fn on_gateway(req: Request, domain: &str) -> Request {
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.domain_name = Some(domain.to_owned());
        req.with_request_context(RequestContext::ApiGatewayV2(context))
    }

    #[test]
    fn the_gateway_domain_wins_over_caller_headers() {
        let req = on_gateway(
            request("POST", &[("host", "evil.example")]),
            "abc123.execute-api.eu-west-1.amazonaws.com",
        );
        assert_eq!(
            base_url(&req, None),
            "https://abc123.execute-api.eu-west-1.amazonaws.com"
        );
        let configured = url::Url::parse("https://masked.example.com/").unwrap();
        assert_eq!(
            base_url(&req, Some(&configured)),
            "https://masked.example.com"
        );
    }

    #[test]
    fn only_local_runs_read_the_host_header() {
        assert_eq!(
            base_url(&request("POST", &[]), None),
            "https://api.example.com"
        );
        let watch = on_gateway(request("POST", &[]), "localhost");
        assert_eq!(base_url(&watch, None), "https://api.example.com");
    }

    #[test]
    fn cross_site_writes_are_refused() {
        for headers in [
            vec![("sec-fetch-site", "cross-site")],
            vec![("sec-fetch-site", "same-site")],
            vec![("origin", "https://evil.example")],
            vec![("origin", "null")],
            vec![("origin", "http://api.example.com")],
            vec![
                ("sec-fetch-site", "same-origin"),
                ("origin", "https://evil.example"),
            ],
        ] {
            for method in ["POST", "DELETE", "PATCH", "PUT"] {
                assert!(
                    matches!(
                        refuse_cross_site(&request(method, &headers), None),
                        Err(ApiError::CrossSite)
                    ),
                    "{method} {headers:?}"
                );
            }
        }
    }

    #[test]
    fn same_origin_and_non_browser_clients_pass() {
        for headers in [
            vec![],
            vec![
                ("sec-fetch-site", "same-origin"),
                ("origin", "https://api.example.com"),
            ],
            vec![("origin", "https://api.example.com:443")],
            vec![("sec-fetch-site", "none")],
        ] {
            assert!(
                refuse_cross_site(&request("POST", &headers), None).is_ok(),
                "{headers:?}"
            );
        }
        let read = request("GET", &[("sec-fetch-site", "cross-site")]);
        assert!(refuse_cross_site(&read, None).is_ok());
    }
}
