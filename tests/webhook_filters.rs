//! Issue 16.4: CodeBuild's webhook filters judged for a pull request — a table, each row
//! citing the documented behaviour it checks (CodeBuild user guide "GitHub webhook events",
//! "Filter GitHub webhook events (SDK)"; API reference `Webhook`, `WebhookFilter`) or the
//! assumption the gate makes where the documentation is silent (then it must answer
//! "uncertain", never "not built").

use codebuild_retry_gate::webhook::{Filter, Judgment, PullRequest, Webhook, judge};

fn f(kind: &str, pattern: &str) -> Filter {
    Filter {
        kind: kind.into(),
        pattern: pattern.into(),
        exclude: false,
    }
}

fn not(kind: &str, pattern: &str) -> Filter {
    Filter {
        exclude: true,
        ..f(kind, pattern)
    }
}

const PR_EVENTS: &str = "PULL_REQUEST_CREATED, PULL_REQUEST_UPDATED, PULL_REQUEST_REOPENED";

fn webhook(groups: Vec<Vec<Filter>>) -> Webhook {
    Webhook {
        build_type: Some("BUILD_BATCH".into()),
        filter_groups: groups,
        status: Some("ACTIVE".into()),
        ..Webhook::default()
    }
}

fn pr(files: &[&str]) -> PullRequest {
    PullRequest {
        base_ref: "main".into(),
        head_ref: "docs/typo".into(),
        author_id: Some(4242),
        files: Ok(files.iter().map(|s| s.to_string()).collect()),
        head_message: Ok("Fix a typo in the README".into()),
        github_com: true,
    }
}

#[derive(Debug, PartialEq)]
enum Want {
    NotBuilt,
    Built,
    Uncertain,
}

fn verdict(j: &Judgment) -> Want {
    match j {
        Judgment::NotBuilt => Want::NotBuilt,
        Judgment::Built(_) => Want::Built,
        Judgment::Uncertain(_) => Want::Uncertain,
    }
}

#[test]
fn filter_groups_judged_as_codebuild_documents_them() {
    use Want::*;
    let docs = &["docs/guide.md", "README.md"];
    let code = &["docs/guide.md", "services/api/main.rs"];
    let rows: Vec<(&str, Webhook, PullRequest, Want)> = vec![
        (
            "FILE_PATH: 'a webhook triggers a build when the path of a changed file matches' — no changed file matches",
            webhook(vec![vec![
                f("EVENT", PR_EVENTS),
                f("FILE_PATH", "^services/"),
            ]]),
            pr(docs),
            NotBuilt,
        ),
        (
            "FILE_PATH: one changed file matches is enough",
            webhook(vec![vec![
                f("EVENT", PR_EVENTS),
                f("FILE_PATH", "^services/"),
            ]]),
            pr(code),
            Built,
        ),
        (
            "pattern is a search, not a whole match: '^refs/heads/' matches refs/heads/branch-name (WebhookFilter.pattern)",
            webhook(vec![vec![f("EVENT", PR_EVENTS), f("FILE_PATH", "api/")]]),
            pr(code),
            Built,
        ),
        (
            "excludeMatchedPattern: 'a webhook event that does not match the pattern triggers a build' — every file matches the excluded pattern",
            webhook(vec![vec![
                f("EVENT", PR_EVENTS),
                not("FILE_PATH", "^docs/|\\.md$"),
            ]]),
            pr(docs),
            NotBuilt,
        ),
        (
            "excluded FILE_PATH matching no changed file: the event passes",
            webhook(vec![vec![
                f("EVENT", PR_EVENTS),
                not("FILE_PATH", "^docs/"),
            ]]),
            pr(&["services/api/main.rs"]),
            Built,
        ),
        (
            "excluded FILE_PATH matching some files but not all: undocumented, so uncertain",
            webhook(vec![vec![
                f("EVENT", PR_EVENTS),
                not("FILE_PATH", "^docs/"),
            ]]),
            pr(code),
            Uncertain,
        ),
        (
            "filter groups are OR'ed: 'at least one filter group ... must pass' — the second group passes",
            webhook(vec![
                vec![f("EVENT", PR_EVENTS), f("FILE_PATH", "^services/")],
                vec![f("EVENT", PR_EVENTS), f("BASE_REF", "^refs/heads/main$")],
            ]),
            pr(docs),
            Built,
        ),
        (
            "filters are AND'ed: 'for a filter group to pass, each of its filters must pass' — BASE_REF fails",
            webhook(vec![vec![
                f("EVENT", PR_EVENTS),
                f("BASE_REF", "^refs/heads/release/"),
                f("FILE_PATH", "^docs/"),
            ]]),
            pr(docs),
            NotBuilt,
        ),
        (
            "several groups, none can pass",
            webhook(vec![
                vec![f("EVENT", PR_EVENTS), f("FILE_PATH", "^services/")],
                vec![f("EVENT", "PUSH"), f("HEAD_REF", "^refs/heads/main$")],
                vec![f("EVENT", PR_EVENTS), f("HEAD_REF", "^refs/heads/feature/")],
            ]),
            pr(docs),
            NotBuilt,
        ),
        (
            "EVENT: a group only for pushes never passes for a pull request",
            webhook(vec![vec![f("EVENT", "PUSH")]]),
            pr(code),
            NotBuilt,
        ),
        (
            "EVENT: PULL_REQUEST_REOPENED alone still builds the pull request's head when reopened",
            webhook(vec![vec![f("EVENT", "PULL_REQUEST_REOPENED")]]),
            pr(docs),
            Built,
        ),
        (
            "EVENT: an event type the gate does not know is uncertain (the rest of the group passes)",
            webhook(vec![vec![
                f("EVENT", "PULL_REQUEST_LABELED"),
                f("FILE_PATH", "^docs/"),
            ]]),
            pr(docs),
            Uncertain,
        ),
        (
            "EVENT with excludeMatchedPattern: every pull request event passes an excluded PUSH",
            webhook(vec![vec![not("EVENT", "PUSH")]]),
            pr(docs),
            Built,
        ),
        (
            "HEAD_REF and BASE_REF are refs/heads/NAME (the documented ^refs/heads/main$)",
            webhook(vec![vec![
                f("EVENT", PR_EVENTS),
                f("HEAD_REF", "^refs/heads/docs/typo$"),
                f("BASE_REF", "^refs/heads/main$"),
            ]]),
            pr(docs),
            Built,
        ),
        (
            "ACTOR_ACCOUNT_ID: taken as the author's id — another account's pattern cannot pass",
            webhook(vec![vec![
                f("EVENT", PR_EVENTS),
                f("ACTOR_ACCOUNT_ID", "^1234$"),
            ]]),
            pr(docs),
            NotBuilt,
        ),
        (
            "ACTOR_ACCOUNT_ID excluding the author (the documented 'user who does not have account ID 12345')",
            webhook(vec![vec![
                f("EVENT", PR_EVENTS),
                not("ACTOR_ACCOUNT_ID", "^4242$"),
            ]]),
            pr(code),
            NotBuilt,
        ),
        (
            "COMMIT_MESSAGE: 'the head commit message matches' — it does not",
            webhook(vec![vec![
                f("EVENT", PR_EVENTS),
                f("COMMIT_MESSAGE", "\\[build\\]"),
            ]]),
            pr(docs),
            NotBuilt,
        ),
        (
            "COMMIT_MESSAGE excluding a skip marker that the message lacks: the event passes",
            webhook(vec![vec![
                f("EVENT", PR_EVENTS),
                not("COMMIT_MESSAGE", "\\[skip ci\\]"),
            ]]),
            pr(docs),
            Built,
        ),
        (
            "FILE_PATH on GitHub Enterprise Server pull requests is not documented to work: uncertain",
            webhook(vec![vec![
                f("EVENT", PR_EVENTS),
                f("FILE_PATH", "^services/"),
            ]]),
            PullRequest {
                github_com: false,
                ..pr(docs)
            },
            Uncertain,
        ),
        (
            "more changed files than GitHub lists (3,000): uncertain",
            webhook(vec![vec![
                f("EVENT", PR_EVENTS),
                f("FILE_PATH", "^services/"),
            ]]),
            PullRequest {
                files: Err("more than 3000 changed files".into()),
                ..pr(docs)
            },
            Uncertain,
        ),
        (
            "but a group that fails on BASE_REF needs no files",
            webhook(vec![vec![
                f("EVENT", PR_EVENTS),
                f("BASE_REF", "^refs/heads/release$"),
                f("FILE_PATH", "^services/"),
            ]]),
            PullRequest {
                files: Err("more than 3000 changed files".into()),
                ..pr(docs)
            },
            NotBuilt,
        ),
        (
            "a pattern Java and Rust read differently (lookahead) is uncertain",
            webhook(vec![vec![
                f("EVENT", PR_EVENTS),
                f("FILE_PATH", "^(?!docs/)"),
            ]]),
            pr(docs),
            Uncertain,
        ),
        (
            "a POSIX class means something else in Java: uncertain",
            webhook(vec![vec![
                f("EVENT", PR_EVENTS),
                f("FILE_PATH", "^[[:alpha:]]+/x"),
            ]]),
            pr(docs),
            Uncertain,
        ),
        (
            "a non-ASCII file name: uncertain when nothing else decides",
            webhook(vec![vec![
                f("EVENT", PR_EVENTS),
                f("FILE_PATH", "^services/"),
            ]]),
            pr(&["docs/über.md"]),
            Uncertain,
        ),
        (
            "a filter type for releases or workflows is not judged for pull requests",
            webhook(vec![vec![f("EVENT", PR_EVENTS), f("TAG_NAME", "^v1")]]),
            pr(docs),
            Uncertain,
        ),
        (
            "a group without an EVENT filter ('at least one WebhookFilter ... must specify EVENT')",
            webhook(vec![vec![f("FILE_PATH", "^services/")]]),
            pr(docs),
            Uncertain,
        ),
        (
            "no filter groups: every event builds",
            webhook(vec![]),
            pr(docs),
            Built,
        ),
        (
            "webhook of buildType BUILD: not batches — post nothing",
            Webhook {
                build_type: Some("BUILD".into()),
                ..webhook(vec![vec![f("EVENT", "PUSH")]])
            },
            pr(docs),
            Uncertain,
        ),
        (
            "pullRequestBuildPolicy requiring comment approval: an approval may still start a build",
            Webhook {
                requires_comment_approval: Some("ALL_PULL_REQUESTS".into()),
                ..webhook(vec![vec![f("EVENT", "PUSH")]])
            },
            pr(docs),
            Uncertain,
        ),
        (
            "comment approval DISABLED: builds are automatic, the filters decide",
            Webhook {
                requires_comment_approval: Some("DISABLED".into()),
                ..webhook(vec![vec![f("EVENT", "PUSH")]])
            },
            pr(docs),
            NotBuilt,
        ),
        (
            "a branchFilter (the older filter) is not judged",
            Webhook {
                branch_filter: Some("^main$".into()),
                ..webhook(vec![vec![f("EVENT", "PUSH")]])
            },
            pr(docs),
            Uncertain,
        ),
        (
            "a webhook that is not ACTIVE is not judged",
            Webhook {
                status: Some("CREATE_FAILED".into()),
                ..webhook(vec![vec![f("EVENT", "PUSH")]])
            },
            pr(docs),
            Uncertain,
        ),
    ];
    for (why, w, p, want) in rows {
        let got = judge(Some(&w), &p);
        assert_eq!(verdict(&got), want, "{why}: {got:?}");
    }
    // No webhook at all: nothing is certain.
    assert_eq!(verdict(&judge(None, &pr(docs))), Want::Uncertain);
}

#[test]
fn case_insensitive_and_classes_agree_on_ascii() {
    let w = webhook(vec![vec![
        f("EVENT", PR_EVENTS),
        f("FILE_PATH", "(?i)^SERVICES/\\w+/[a-z]+\\.rs$"),
    ]]);
    assert_eq!(
        judge(Some(&w), &pr(&["services/api/main.rs"])),
        Judgment::Built("filter group 1 passes for PULL_REQUEST_CREATED".into())
    );
    assert_eq!(
        judge(Some(&w), &pr(&["services/api/main.go"])),
        Judgment::NotBuilt
    );
}

#[test]
fn multi_line_messages_are_judged_only_where_both_dialects_agree() {
    let w = webhook(vec![vec![
        f("EVENT", PR_EVENTS),
        f("COMMIT_MESSAGE", "^build$"),
    ]]);
    let with = |m: &str| PullRequest {
        head_message: Ok(m.into()),
        ..pr(&["a"])
    };
    assert_eq!(judge(Some(&w), &with("Fix\n\nbuild")), Judgment::NotBuilt);
    let m = webhook(vec![vec![
        f("EVENT", PR_EVENTS),
        f("COMMIT_MESSAGE", "(?m)^build$"),
    ]]);
    assert!(matches!(
        judge(Some(&m), &with("Fix\n\nbuild")),
        Judgment::Built(_)
    ));
    // A trailing line break, or a carriage return: Java's `$` and line ends differ.
    assert!(matches!(
        judge(Some(&w), &with("build\n")),
        Judgment::Uncertain(_)
    ));
    assert!(matches!(
        judge(Some(&w), &with("Fix\r\nbuild")),
        Judgment::Uncertain(_)
    ));
}
