//! The admin API through HTTP requests into the mounted router: every row of CONTRACT §3.
#![cfg(feature = "admin")]

mod support;

use support::admin;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_returns_the_record_and_a_working_token() {
    admin::create_returns_the_record_and_a_working_token().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_defaults_and_inactive_status() {
    admin::create_defaults_and_inactive_status().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_rejects_bad_fields_naming_them() {
    admin::create_rejects_bad_fields_naming_them().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_secret_works_as_bearer_and_basic_and_conflicts_twice() {
    admin::imported_secret_works_as_bearer_and_basic_and_conflicts_twice().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_keeps_the_id_it_names() {
    admin::an_import_keeps_the_id_it_names().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_tried_before_it_was_imported_works_at_once() {
    admin::a_secret_tried_before_it_was_imported_works_at_once().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_are_listed_exactly_once_by_cursor() {
    admin::concurrent_creates_are_listed_exactly_once_by_cursor().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_filters_and_validates_its_query() {
    admin::listing_filters_and_validates_its_query().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_are_404() {
    admin::unknown_ids_are_404().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patches_are_in_force_on_the_next_request() {
    admin::patches_are_in_force_on_the_next_request().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_token_is_rejected_on_the_next_request() {
    admin::deleted_token_is_rejected_on_the_next_request().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_without_grace_ends_the_old_secret_at_once() {
    admin::rotation_without_grace_ends_the_old_secret_at_once().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_with_grace_keeps_the_old_secret_for_the_grace_period() {
    admin::rotation_with_grace_keeps_the_old_secret_for_the_grace_period().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_validity_without_revealing_why() {
    admin::check_reports_validity_without_revealing_why().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_requests_need_the_admin_scope() {
    admin::admin_requests_need_the_admin_scope().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
    admin::unknown_paths_are_404_and_wrong_methods_405_with_allow().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_non_json_bodies_are_refused() {
    admin::oversized_and_non_json_bodies_are_refused().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_failure_is_503() {
    admin::store_failure_is_503().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_the_router() {
    admin::openapi_document_matches_the_router().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_that_times_out_after_committing_still_revokes() {
    admin::a_delete_that_times_out_after_committing_still_revokes().await;
}
