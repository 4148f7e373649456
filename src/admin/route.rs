//! Which admin operation a method and path name. Matching is by hand: seven routes do not
//! need a router crate. A path parameter is handed on as it came; its handler decodes it.

use http::Method;

use super::error::ApiError;

/// An admin operation, with the path parameter it carries.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    Create,
    List,
    Check,
    RevokeOwner,
    Get(&'a str),
    Update(&'a str),
    Delete(&'a str),
    Rotate(&'a str),
    /// `GET /owners/{owner}`, the owner still percent-encoded.
    GetOwner(&'a str),
    /// `PUT /owners/{owner}`, the owner still percent-encoded.
    SetOwner(&'a str),
    OpenApi,
}

/// Every path template the API serves and the methods each allows, as the OpenAPI
/// document must list them.
#[cfg(test)]
pub(crate) const ROUTES: &[(&str, &[Method])] = &[
    ("/tokens", &[Method::GET, Method::POST]),
    ("/tokens/check", &[Method::POST]),
    ("/tokens/revoke", &[Method::POST]),
    ("/tokens/{id}", &[Method::GET, Method::PATCH, Method::DELETE]),
    ("/tokens/{id}/rotate", &[Method::POST]),
    ("/owners/{owner}", &[Method::GET, Method::PUT]),
    ("/openapi.json", &[Method::GET]),
];

/// Matches a request. `path` is relative to where the API is mounted.
pub(crate) fn route<'a>(method: &Method, path: &'a str) -> Result<Route<'a>, ApiError> {
    let segments: Vec<&str> = path.strip_prefix('/').ok_or(ApiError::NoRoute)?.split('/').collect();
    let (allow, route) = match segments.as_slice() {
        ["tokens"] => (
            "GET, POST",
            match *method {
                Method::GET => Some(Route::List),
                Method::POST => Some(Route::Create),
                _ => None,
            },
        ),
        ["tokens", "check"] => ("POST", (method == Method::POST).then_some(Route::Check)),
        ["tokens", "revoke"] => ("POST", (method == Method::POST).then_some(Route::RevokeOwner)),
        ["tokens", id] if !id.is_empty() => (
            "GET, PATCH, DELETE",
            match *method {
                Method::GET => Some(Route::Get(id)),
                Method::PATCH => Some(Route::Update(id)),
                Method::DELETE => Some(Route::Delete(id)),
                _ => None,
            },
        ),
        ["tokens", id, "rotate"] if !id.is_empty() => ("POST", (method == Method::POST).then_some(Route::Rotate(id))),
        ["owners", owner] if !owner.is_empty() => (
            "GET, PUT",
            match *method {
                Method::GET => Some(Route::GetOwner(owner)),
                Method::PUT => Some(Route::SetOwner(owner)),
                _ => None,
            },
        ),
        ["openapi.json"] => ("GET", (method == Method::GET).then_some(Route::OpenApi)),
        _ => return Err(ApiError::NoRoute),
    };
    route.ok_or(ApiError::MethodNotAllowed(allow))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_methods_and_paths() {
        assert_eq!(route(&Method::POST, "/tokens").unwrap(), Route::Create);
        assert_eq!(route(&Method::GET, "/tokens").unwrap(), Route::List);
        assert_eq!(route(&Method::POST, "/tokens/check").unwrap(), Route::Check);
        assert_eq!(route(&Method::POST, "/tokens/revoke").unwrap(), Route::RevokeOwner);
        assert_eq!(route(&Method::GET, "/tokens/abc").unwrap(), Route::Get("abc"));
        assert_eq!(route(&Method::PATCH, "/tokens/abc").unwrap(), Route::Update("abc"));
        assert_eq!(route(&Method::DELETE, "/tokens/abc").unwrap(), Route::Delete("abc"));
        assert_eq!(
            route(&Method::POST, "/tokens/abc/rotate").unwrap(),
            Route::Rotate("abc")
        );
        assert_eq!(route(&Method::GET, "/owners/a%2Fb").unwrap(), Route::GetOwner("a%2Fb"));
        assert_eq!(route(&Method::PUT, "/owners/a%2Fb").unwrap(), Route::SetOwner("a%2Fb"));
        assert_eq!(route(&Method::GET, "/openapi.json").unwrap(), Route::OpenApi);
    }

    #[test]
    fn unknown_paths_and_methods_are_told_apart() {
        for path in [
            "",
            "/",
            "/tokens/",
            "/tokens//rotate",
            "/tokens/a/b",
            "/token",
            "tokens",
            "/tokens/a/rotate/",
            "/owners",
            "/owners/",
            "/owners/a/b",
        ] {
            assert!(matches!(route(&Method::GET, path), Err(ApiError::NoRoute)), "{path:?}");
        }
        assert!(matches!(
            route(&Method::PUT, "/tokens"),
            Err(ApiError::MethodNotAllowed("GET, POST"))
        ));
        assert!(matches!(
            route(&Method::GET, "/tokens/check"),
            Err(ApiError::MethodNotAllowed("POST"))
        ));
        assert!(matches!(
            route(&Method::GET, "/tokens/a/rotate"),
            Err(ApiError::MethodNotAllowed("POST"))
        ));
        assert!(matches!(
            route(&Method::PATCH, "/owners/a"),
            Err(ApiError::MethodNotAllowed("GET, PUT"))
        ));
    }

    #[test]
    fn the_route_table_matches_the_matcher() {
        for (template, methods) in ROUTES {
            let path = template.replace("{id}", "abc").replace("{owner}", "abc");
            for method in [
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::HEAD,
            ] {
                let served = route(&method, &path).is_ok();
                assert_eq!(served, methods.contains(&method), "{method} {template}");
            }
        }
    }
}
