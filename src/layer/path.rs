//! [`RequestPath`]: a layer's request path, written once. It takes a request to a
//! [`Decision`], admits a request that passes, and refuses one that does not; a request
//! the cache could not decide is finished by a [`Lookup`](super::lookup::Lookup), which
//! comes back here to be admitted or refused.
//!
//! header → credential → [`Claim`](crate::verify::Claim) → damping and the cache →
//! principal, rejection or lookup → admission (the layer's scopes, then the rate limits:
//! decided here when they are local, by Redis through `Admission::Shared` when shared) →
//! inner service.

use std::fmt;
use std::time::Duration;

use http::header::AUTHORIZATION;
use http::{Extensions, HeaderMap, Request, Response};

use super::body::BodyMode;
use super::damping::{Damping, Judged};
use super::extensions::Anonymous;
use super::kind::RejectionKind;
use super::lookup::Lookup;
use super::refusals::Refusals;
use super::rejection::Rejection;
use crate::credential::CredentialParser;
use crate::limit::{Check, Checked, LimitFields, Limits};
use crate::principal::{Principal, PrincipalSlot};
use crate::verify::Verifier;

/// What admitting a request leaves to do before the inner service is called.
pub(super) enum Admission {
    /// Nothing: call it (a token with no limit, or an anonymous request).
    Plain,
    /// Call it, and give its response these fields (the request was counted).
    Fields(LimitFields),
    /// The limits are shared: Redis decides ([`RequestPath::check_shared`]), for the
    /// principal the request now carries.
    #[cfg(feature = "redis")]
    Shared,
}

/// What a request's path decided before the inner service.
pub(super) enum Decision {
    /// Authenticated, or anonymous where the layer allows it: on to [`RequestPath::admit`].
    Pass(Option<Principal>),
    /// Refused.
    Reject(Rejection),
    /// The store must be asked.
    Lookup(Lookup),
}

/// Everything one layer decides requests with; shared by every service it makes.
pub(crate) struct RequestPath {
    verifier: Verifier,
    parser: CredentialParser,
    required_scopes: Vec<String>,
    allow_anonymous: bool,
    strip_authorization: bool,
    damping: Option<Damping>,
    refusals: Refusals,
}

impl RequestPath {
    /// A layer's path: `parser` reads the verifier's structured tokens already.
    pub(super) fn new(
        verifier: Verifier,
        parser: CredentialParser,
        required_scopes: Vec<String>,
        allow_anonymous: bool,
        strip_authorization: bool,
        damping: Option<Damping>,
        refusals: Refusals,
    ) -> Self {
        Self {
            verifier,
            parser,
            required_scopes,
            allow_anonymous,
            strip_authorization,
            damping,
            refusals,
        }
    }

    pub(super) fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    pub(super) fn refusals(&self) -> &Refusals {
        &self.refusals
    }

    /// Decides a request without waiting, when the header, damping and the cache can.
    #[inline]
    pub(super) fn decide<B>(&self, req: &Request<B>) -> Decision {
        let read = match self.parser.read(req.headers()) {
            Ok(Some(read)) => read,
            Ok(None) if self.allow_anonymous => return Decision::Pass(None),
            Ok(None) => return Decision::Reject(Rejection::missing_credentials()),
            Err(err) => return Decision::Reject(Rejection::new(RejectionKind::Malformed(err))),
        };
        let claim = self.verifier.claim(&read);
        let judged = match &self.damping {
            Some(damping) => damping.judge(req.headers(), req.extensions(), &claim, || {
                self.verifier.verify_cached(&claim)
            }),
            // Asked here, not through a closure shared with the damped call: inlined into the
            // hit path.
            None => Judged::undamped(self.verifier.verify_cached(&claim)),
        };
        match judged {
            Judged::Decided(Ok(principal)) => Decision::Pass(Some(principal)),
            Judged::Decided(Err(err)) => Decision::Reject(Rejection::refused(&err, claim.id())),
            Judged::Blocked(remaining) => Decision::Reject(too_many_failures(remaining)),
            Judged::Lookup(pending, attempt) => Decision::Lookup(Lookup::new(pending, attempt)),
        }
    }

    /// Readies a request that passed for the inner service, or refuses it for the layer's
    /// own scopes or a rate limit.
    #[inline]
    pub(super) fn admit<B>(&self, principal: Option<Principal>, req: &mut Request<B>) -> Result<Admission, Rejection> {
        let mut admission = Admission::Plain;
        if let Some(principal) = principal {
            if !principal.has_all_scopes(self.required_scopes.iter().map(String::as_str)) {
                return Err(Rejection::naming(
                    RejectionKind::InsufficientScope,
                    Some(principal.id()),
                ));
            }
            // Usage limits: after authentication and the layer's own scopes, before the inner
            // service (and before the principal is handed to anything). A token without one
            // pays this branch.
            if let Some(limits) = principal.limits() {
                admission = self.limit(&principal, limits, req.extensions_mut())?;
            }
            if let Some(slot) = req.extensions().get::<PrincipalSlot>() {
                slot.fill(&principal);
            }
            req.extensions_mut().insert(principal);
        } else {
            // Anonymous: a `Principal` extractor further in answers 401 as this layer would.
            req.extensions_mut().insert(Anonymous::new(self.refusals.answers()));
        }
        if self.strip_authorization {
            req.headers_mut().remove(AUTHORIZATION);
        }
        Ok(admission)
    }

    /// Counts a request against its limits, when they are kept here; otherwise says that
    /// Redis must be asked.
    #[inline(never)]
    fn limit(
        &self,
        principal: &Principal,
        limits: &Limits,
        extensions: &mut Extensions,
    ) -> Result<Admission, Rejection> {
        match self.verifier.limiter().check(limits) {
            Check::Done(checked) => Self::counted(principal, limits, &checked, extensions).map(Admission::Fields),
            #[cfg(feature = "redis")]
            Check::Shared => Ok(Admission::Shared),
        }
    }

    /// Counts a request against limits shared in Redis ([`Admission::Shared`]).
    #[cfg(feature = "redis")]
    pub(super) async fn check_shared(&self, extensions: &mut Extensions) -> Result<LimitFields, Rejection> {
        let principal = extensions
            .get::<Principal>()
            .cloned()
            .expect("admitted with its principal");
        let limits = principal.limits().expect("a principal with shared limits has limits");
        match self.verifier.limiter().check_shared(limits).await {
            Ok(checked) => Self::counted(&principal, limits, &checked, extensions),
            Err(crate::limit::limiter::Unavailable) => Err(Rejection::new(RejectionKind::LimitsUnavailable)),
        }
    }

    /// What a counted request gets: the fields, and its handler the status of its limits;
    /// or the refusal.
    fn counted(
        principal: &Principal,
        limits: &Limits,
        checked: &Checked,
        extensions: &mut Extensions,
    ) -> Result<LimitFields, Rejection> {
        let fields = limits.fields(checked);
        if checked.allowed {
            extensions.insert(checked.status());
            Ok(fields)
        } else {
            Err(Rejection::rate_limited(
                checked.retry_after_secs(),
                principal.id(),
                fields,
            ))
        }
    }

    /// Refuses a request with these headers, through the layer's one door. Not inlined into
    /// the service's `call`: the hit path stays as small as before refusals had two forms.
    #[inline(never)]
    pub(super) fn refuse<B, M: BodyMode<B>>(&self, rejection: &Rejection, request: &HeaderMap) -> Response<M::Body> {
        self.refusals.refuse(rejection, request, M::error)
    }
}

impl fmt::Debug for RequestPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestPath")
            .field("bearer", &self.parser.bearer_enabled())
            .field("basic", &self.parser.basic_enabled())
            .field("required_scopes", &self.required_scopes)
            .field("allow_anonymous", &self.allow_anonymous)
            .field("strip_authorization", &self.strip_authorization)
            .field("damping", &self.damping)
            .finish_non_exhaustive()
    }
}

fn too_many_failures(remaining: Duration) -> Rejection {
    // Whole seconds, rounded up: a client that waits as told is not blocked again.
    let retry_after_secs = remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0);
    Rejection::new(RejectionKind::TooManyFailures { retry_after_secs })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Retry-After is whole seconds, rounded up, and only a fraction rounds: a client told 3
    // after 3 s exactly would otherwise wait a second for nothing.
    #[test]
    fn retry_after_rounds_a_fraction_up_and_a_whole_second_not() {
        let secs = |remaining| match too_many_failures(remaining).kind() {
            RejectionKind::TooManyFailures { retry_after_secs } => *retry_after_secs,
            other => panic!("{other:?}"),
        };
        assert_eq!(secs(Duration::from_secs(3)), 3);
        assert_eq!(secs(Duration::from_millis(2_001)), 3);
        assert_eq!(secs(Duration::from_nanos(1)), 1);
    }
}
