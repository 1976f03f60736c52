//! GitHub's error texts, credentials kept out of URLs, pull request numbers.

use super::*;

#[test]
fn credentials_are_removed_from_remote_urls() {
    assert_eq!(without_credentials("https://x-access-token:ghp_SECRET@github.com/a/b.git"), "https://github.com/a/b.git");
    assert_eq!(without_credentials("https://github.com/a/b.git"), "https://github.com/a/b.git");
    assert_eq!(without_credentials("git@github.com:a/b.git"), "git@github.com:a/b.git");
}

#[test]
fn validation_details_follow_the_message() {
    let body = r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"No commits between main and feature"}]}"#;
    assert_eq!(github_message(body), "Validation Failed: No commits between main and feature");
    assert_eq!(
        github_message(r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","field":"base","code":"invalid"}]}"#),
        "Validation Failed: PullRequest base invalid"
    );
    assert_eq!(github_message(""), "(no details)");
}
