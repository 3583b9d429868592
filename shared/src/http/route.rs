//! A function's routes as a table: method, path template, and the handler's
//! own name for the route. The handler dispatches through the table, and the
//! facts file lists it (`crate::facts`), so the checks that are not Rust see
//! the routes the code serves.

use lambda_http::http::Method;

/// One route: `GET /sessions/{sid}` answered as `name`.
#[derive(Debug, Clone, Copy)]
pub struct Route<R: 'static> {
    pub method: &'static str,
    /// Parameters in braces, as API Gateway and the OpenAPI document write them.
    pub path: &'static str,
    pub name: R,
}

impl<R> Route<R> {
    pub const fn new(method: &'static str, path: &'static str, name: R) -> Self {
        Route { method, path, name }
    }
}

/// A route as the facts list it, whatever the handler calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RouteKey {
    pub method: &'static str,
    pub path: &'static str,
}

impl<R> From<&Route<R>> for RouteKey {
    fn from(route: &Route<R>) -> Self {
        RouteKey {
            method: route.method,
            path: route.path,
        }
    }
}

/// The table, indexed by path (matchit) with each path's methods.
pub struct Router<R: 'static> {
    paths: matchit::Router<Vec<&'static Route<R>>>,
}

/// A request matched to its route, with the path's parameters.
#[derive(Debug)]
pub struct Matched<'r, 'p, R: 'static> {
    pub route: &'static Route<R>,
    params: matchit::Params<'r, 'p>,
}

impl<R> Matched<'_, '_, R> {
    /// The value of the `{name}` parameter (the template names every one).
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).unwrap_or_default()
    }
}

/// Why a request has no route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// No template matches the path.
    NotFound,
    /// The path is served, with other methods: the `Allow` header's value.
    MethodNotAllowed { allow: String },
}

impl Miss {
    /// The plain-text answer a webhook gives (Twilio reads only the status).
    pub fn into_text_response(self) -> lambda_http::Response<lambda_http::Body> {
        use lambda_http::http::{header, StatusCode};
        match self {
            Miss::NotFound => super::response::text(StatusCode::NOT_FOUND, "no such route"),
            Miss::MethodNotAllowed { allow } => {
                let mut answer = super::response::text(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &format!("this route accepts {allow}"),
                );
                if let Ok(value) = allow.parse() {
                    answer.headers_mut().insert(header::ALLOW, value);
                }
                answer
            }
        }
    }
}

impl<R> Router<R> {
    /// Panics on a table that names a path twice with one method or holds
    /// templates matchit cannot tell apart: a programming error that every
    /// test of the function finds at once.
    pub fn new(table: &'static [Route<R>]) -> Self {
        let mut grouped: Vec<(&'static str, Vec<&'static Route<R>>)> = Vec::new();
        for route in table {
            match grouped.iter_mut().find(|(path, _)| *path == route.path) {
                Some((_, methods)) => {
                    assert!(
                        methods.iter().all(|r| r.method != route.method),
                        "route {} {} declared twice",
                        route.method,
                        route.path
                    );
                    methods.push(route);
                }
                None => grouped.push((route.path, vec![route])),
            }
        }
        let mut paths = matchit::Router::new();
        for (path, methods) in grouped {
            if let Err(e) = paths.insert(path, methods) {
                panic!("route {path}: {e}");
            }
        }
        Router { paths }
    }

    /// The route for `method` on `path` (a trailing slash is ignored).
    pub fn find<'r, 'p>(
        &'r self,
        method: &Method,
        path: &'p str,
    ) -> Result<Matched<'r, 'p, R>, Miss> {
        let trimmed = match path.trim_end_matches('/') {
            "" => "/",
            trimmed => trimmed,
        };
        let found = self.paths.at(trimmed).map_err(|_| Miss::NotFound)?;
        match found.value.iter().find(|r| r.method == method.as_str()) {
            Some(route) => Ok(Matched {
                route,
                params: found.params,
            }),
            None => Err(Miss::MethodNotAllowed {
                allow: found
                    .value
                    .iter()
                    .map(|r| r.method)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Name {
        List,
        Create,
        Read,
        Remove,
    }

    static TABLE: &[Route<Name>] = &[
        Route::new("GET", "/things", Name::List),
        Route::new("POST", "/things", Name::Create),
        Route::new("GET", "/things/{sid}", Name::Read),
        Route::new("DELETE", "/things/{sid}/parts/{part}", Name::Remove),
    ];

    #[test]
    fn a_request_finds_its_route_and_parameters() {
        let router = Router::new(TABLE);
        let found = router.find(&Method::GET, "/things/TH1/").unwrap();
        assert_eq!(found.route.name, Name::Read);
        assert_eq!(found.param("sid"), "TH1");
        let found = router.find(&Method::DELETE, "/things/a/parts/b").unwrap();
        assert_eq!((found.param("sid"), found.param("part")), ("a", "b"));
        assert_eq!(
            router.find(&Method::POST, "/things").unwrap().route.name,
            Name::Create
        );
    }

    #[test]
    fn another_method_on_a_served_path_names_the_allowed_ones() {
        let router = Router::new(TABLE);
        assert_eq!(
            router.find(&Method::PUT, "/things").unwrap_err(),
            Miss::MethodNotAllowed {
                allow: "GET, POST".into()
            }
        );
        assert_eq!(
            router.find(&Method::GET, "/things/a/parts").unwrap_err(),
            Miss::NotFound
        );
        assert_eq!(router.find(&Method::GET, "/").unwrap_err(), Miss::NotFound);
    }

    #[test]
    #[should_panic(expected = "declared twice")]
    fn a_route_declared_twice_is_refused() {
        static TWICE: &[Route<Name>] = &[
            Route::new("GET", "/things", Name::List),
            Route::new("GET", "/things", Name::Create),
        ];
        Router::new(TWICE);
    }
}
