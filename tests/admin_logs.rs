//! Everything the admin API and the layer log during the whole admin suite, captured and
//! searched: no secret may appear.
#![cfg(feature = "admin")]

mod support;

use support::logs::Capture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs() {
    let capture = Capture::default();
    tracing::subscriber::set_global_default(capture.subscriber()).unwrap();

    support::admin::all().await;
    support::self_service::all().await;
    support::admin_limits::all().await;

    let logged = capture.text();
    // Every admin change: an info event with the action, the token (or owner) and the actor.
    for action in [
        "created",
        "updated",
        "rotated",
        "deleted",
        "revoked_owner",
        "set_owner_settings",
    ] {
        let line = logged
            .lines()
            .find(|line| line.contains("tollgate::admin") && line.contains(&format!("action=\"{action}\"")))
            .unwrap_or_else(|| panic!("no {action} event was logged"));
        assert!(line.contains(" INFO "), "{line}");
        assert!(line.contains("actor="), "{line}");
        let target = if action == "revoked_owner" || action == "set_owner_settings" {
            "owner="
        } else {
            "token_id="
        };
        assert!(line.contains(target), "{line}");
    }
    assert!(logged.contains("actor="), "admin events name the actor");
    assert!(
        logged.contains("request refused"),
        "the layer's refusals were captured too"
    );
    let secrets = support::admin::SECRETS.lock().unwrap().clone();
    assert!(secrets.len() > 20, "the suite handled secrets");
    for secret in &secrets {
        assert!(!logged.contains(secret.as_str()), "a secret reached the logs");
        // The secret part of a structured token, on its own.
        let tail = secret.rsplit('_').next().unwrap();
        assert!(!logged.contains(tail), "a secret segment reached the logs");
    }
}
