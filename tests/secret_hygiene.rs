//! No public type that can hold a secret shows it in `Debug` or `Display`, nor does any
//! error or rejection.

use tollgate::{
    BasicCredential, Credential, CredentialError, CredentialParser, InvalidReason, Rejection, RejectionKind, Secret,
    SecretHasher, TokenError, TokenFormat, TokenRecord, VerifyError,
};

fn renderings(value: &(impl std::fmt::Debug + ?Sized)) -> String {
    format!("{value:?} {value:#?}")
}

#[test]
fn no_public_type_prints_a_secret() {
    let format = TokenFormat::default();
    let token = format.generate().unwrap();
    let whole = token.token().expose().to_owned();
    let segment = token.secret_segment().to_owned();
    let pepper = "pepper-that-must-stay-hidden";
    let hasher = SecretHasher::hmac_sha256(pepper.as_bytes());
    let hash = hasher.hash(segment.as_bytes());
    let hash_hex: String = hash.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let record = TokenRecord::new(token.id(), "n", hash);
    let basic = BasicCredential::new(token.id(), &whole);
    let header = basic.to_header_value();
    let parser = CredentialParser::default();
    let bearer_value = http::HeaderValue::from_str(&format!("Bearer {whole}")).unwrap();
    let parsed = parser.parse_value(&bearer_value).unwrap().unwrap();

    let mut rendered = vec![
        renderings(&token),
        renderings(token.token()),
        format!("{}", token.token()),
        renderings(&Secret::new(whole.clone())),
        format!("{}", Secret::new(whole.clone())),
        renderings(&hasher),
        renderings(&hash),
        renderings(&record),
        renderings(&basic),
        renderings(&Credential::Basic(basic.clone())),
        renderings(&Credential::Bearer(&whole)),
        renderings(&parsed),
        renderings(&format.parse(&whole).unwrap().unwrap()),
        renderings(&parser.parse_value(&header).unwrap().unwrap()),
        renderings(&header),
    ];
    // Configuration that holds the pepper: the verifier, the layers and builders around it.
    let store = std::sync::Arc::new(tollgate::MemoryStore::new());
    let builder = tollgate::Verifier::builder(store.clone())
        .hasher(hasher.clone())
        .serve_stale(std::time::Duration::from_secs(60));
    rendered.push(renderings(&builder));
    let verifier = builder.build();
    rendered.push(renderings(&verifier));
    let damping = tollgate::Damping::builder();
    rendered.push(renderings(&damping));
    let layer_builder = tollgate::AuthLayer::builder(verifier.clone()).damping(damping.build());
    rendered.push(renderings(&layer_builder));
    rendered.push(renderings(&layer_builder.build()));
    #[cfg(feature = "admin")]
    {
        let admin = tollgate::AdminApi::builder(store, verifier);
        rendered.push(renderings(&admin));
        rendered.push(renderings(&admin.build()));
    }
    let errors: Vec<Box<dyn std::error::Error>> = vec![
        Box::new(CredentialError::InvalidToken68),
        Box::new(CredentialError::TooLong { len: 5000, max: 4096 }),
        Box::new(TokenError::BadChecksum),
        Box::new(TokenError::Malformed),
        Box::new(VerifyError::Invalid(InvalidReason::WrongSecret)),
        Box::new(VerifyError::Timeout(std::time::Duration::from_secs(5))),
        Box::new(tollgate::StoreError::unavailable("connection refused")),
    ];
    for err in &errors {
        rendered.push(format!("{err} {err:?}"));
    }
    for kind in [
        RejectionKind::MissingCredentials,
        RejectionKind::Malformed(CredentialError::MissingColon),
        RejectionKind::InvalidToken(InvalidReason::Expired),
        RejectionKind::InsufficientScope,
        RejectionKind::Unavailable,
        RejectionKind::TooManyFailures { retry_after_secs: 3 },
    ] {
        let rejection = Rejection::new(kind);
        rendered.push(format!("{rejection} {rejection:?} {}", rejection.message()));
    }

    for text in &rendered {
        for secret in [whole.as_str(), segment.as_str(), pepper, hash_hex.as_str()] {
            assert!(!text.contains(secret), "a secret shows in: {text}");
        }
    }
    // The id is public and does show, so the renderings above are not simply empty.
    assert!(rendered[0].contains(token.id()));
}

#[test]
fn built_authorization_values_are_marked_sensitive() {
    let value = BasicCredential::new("id", "secret").to_header_value();
    assert!(value.is_sensitive());
}
