//! Rate limits through the admin API: a token's `rate_limit` and an owner's settings, as
//! the admin sets them (CONTRACT §3b). Self-service's side is in `tests/self_service.rs`.
#![cfg(feature = "admin")]

mod support;

use support::admin_limits;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_given_at_create_is_shown_in_the_answer_get_and_list() {
    admin_limits::a_rate_limit_given_at_create_is_shown_in_the_answer_get_and_list().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_changes_the_rate_limit_and_null_removes_it() {
    admin_limits::a_patch_changes_the_rate_limit_and_null_removes_it().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broken_rate_limit_rule_is_a_400_naming_it() {
    admin_limits::each_broken_rate_limit_rule_is_a_400_naming_it().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_settings_round_trip_through_put_and_get() {
    admin_limits::owner_settings_round_trip_through_put_and_get().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_limit_set_through_the_api_is_in_force_on_the_next_request() {
    admin_limits::an_owner_limit_set_through_the_api_is_in_force_on_the_next_request().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_without_owner_settings_answers_501_to_put() {
    admin_limits::a_store_without_owner_settings_answers_501_to_put().await;
}
