//! Owners, self-service and audit fields through the admin API: every row of CONTRACT §3a,
//! and what §3b refuses self-service (rate limits).
#![cfg(feature = "admin")]

mod support;

use support::{admin_limits, self_service};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_owners_each_manage_only_their_own_tokens() {
    self_service::two_owners_each_manage_only_their_own_tokens().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_service_needs_both_the_scope_and_an_owner() {
    self_service::self_service_needs_both_the_scope_and_an_owner().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_revokes_every_token_of_an_owner() {
    self_service::the_admin_revokes_every_token_of_an_owner().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_fields_follow_admin_changes() {
    self_service::audit_fields_follow_admin_changes().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_service_imports_with_a_random_id_only() {
    self_service::self_service_imports_with_a_random_id_only().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_service_cannot_set_raise_or_remove_a_rate_limit() {
    admin_limits::self_service_cannot_set_raise_or_remove_a_rate_limit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_service_reads_only_its_own_owners_settings_and_sets_none() {
    admin_limits::self_service_reads_only_its_own_owners_settings_and_sets_none().await;
}
