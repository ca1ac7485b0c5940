//! A fake GitHub REST API (the parts the gate uses), as `octocrab` expects it.
//!
//! - `POST {prefix}/repos/{owner}/{repo}/statuses/{sha}`: create a commit status, validated like
//!   GitHub (state, 140-character description, credentials);
//! - `GET {prefix}/repos/{owner}/{repo}/statuses/{ref}` and `.../commits/{ref}/statuses`: list them;
//! - `GET {prefix}/repos/{owner}/{repo}/commits/{ref}/status`: the combined status, the latest
//!   status of each context (paginated over contexts: `per_page` up to 100, default 30; `page`);
//! - `GET {prefix}/repos/{owner}/{repo}/contents/{path}?ref=REF`: file contents, base64 with a
//!   newline every 60 characters (or raw bytes for `Accept: application/vnd.github.raw`);
//! - `GET {prefix}/repos/{owner}/{repo}`: the repository, with `default_branch`;
//! - `GET {prefix}/repos/{owner}/{repo}/pulls?state=open` (paginated), `.../pulls/{number}`,
//!   `.../pulls/{number}/files` (paginated, `per_page` up to 100, at most 3,000 files in all as
//!   GitHub documents), and `.../git/commits/{sha}` (the commit's message);
//! - `GET {prefix}/repos/{owner}/{repo}/commits/{sha}/branches-where-head`: the branches whose
//!   head is the commit (`[{name, commit: {sha, url}, protected}]`, not paged);
//! - `GET {prefix}/repos/{owner}/{repo}/commits/{sha}/pulls`: the pull requests associated with
//!   the commit, open and merged (paged: `per_page` up to 100, default 30; `page`).
//!   (those added with `add_commit_pull`, then those of `add_pull` headed by the commit).
//!   A commit the fake was told nothing about has no branches and no pull requests.
//!
//! Anything else is 404 `{"message": "Not Found"}`. Point a client at it with
//! `GITHUB_API_URL=fake.url()`; GitHub Enterprise Server's `/api/v3` prefix is supported with
//! [`FakeGitHub::start_with_prefix`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

use super::lock;

const JSON: &str = "application/json; charset=utf-8";
const HANG: Duration = Duration::from_secs(3600);
const DOCS: &str = "https://docs.github.com/rest";
/// GitHub's limit on a commit status description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 140;

/// A fault answered instead of the normal response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitHubFault {
    /// That status; 502/503/504 with the HTML page GitHub's load balancer sends, others JSON.
    Status(u16),
    /// 429 with `retry-after` and `x-ratelimit-remaining: 0` (primary rate limit).
    RateLimited { retry_after_secs: u64 },
    /// 403 with `retry-after` and the secondary-rate-limit message.
    SecondaryRateLimit { retry_after_secs: u64 },
    /// 401 "Bad credentials".
    Unauthorized,
    /// 403 "Resource not accessible by integration", without `retry-after`.
    Forbidden,
    /// 422 "Validation Failed" (the per-SHA-and-context status limit).
    Unprocessable,
    /// 2xx with a truncated JSON body.
    Malformed,
    /// The normal response (the request takes effect), delayed by an hour.
    Hang,
}

/// One request as the fake saw it, in arrival order.
#[derive(Debug, Clone, PartialEq)]
pub struct GitHubCall {
    pub method: String,
    /// The path as received, prefix included (e.g. `/api/v3/repos/acme/api/statuses/abc`).
    pub path: String,
    pub query: Option<String>,
    /// True when an injected fault answered this call.
    pub faulted: bool,
    /// The token from `Authorization: Bearer T` / `token T`.
    pub token: Option<String>,
    /// The JSON body, when there was one.
    pub body: Option<Value>,
}

/// A commit status the fake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedStatus {
    /// `owner/repo`.
    pub repo: String,
    pub sha: String,
    pub state: String,
    pub context: String,
    pub description: Option<String>,
    pub target_url: Option<String>,
    /// The token the status was posted with.
    pub token: Option<String>,
}

/// A fake GitHub REST API on 127.0.0.1. Dropping it stops the server.
pub struct FakeGitHub {
    server: MockServer,
    state: Arc<Mutex<State>>,
    prefix: String,
}

struct Injection {
    method: String,
    fault: GitHubFault,
    remaining: usize,
}

#[derive(Default)]
struct State {
    base: String,
    prefix: String,
    files: HashMap<(String, String, String), Vec<u8>>,
    default_branches: HashMap<String, String>,
    /// Branches whose head is a commit, by repository and SHA.
    branch_heads: HashMap<(String, String), Vec<String>>,
    /// Pull request objects associated with a commit, by repository and SHA, as GitHub
    /// returns them from `/commits/{sha}/pulls`.
    commit_pulls: HashMap<(String, String), Vec<Value>>,
    /// Refs added without files, by repository.
    refs: Vec<(String, String)>,
    /// Repositories the token cannot see: GitHub answers 404 to every request about them.
    hidden: Vec<String>,
    statuses: Vec<(u64, String, RecordedStatus)>,
    /// Pull request objects, by repository, as GitHub returns them.
    pulls: Vec<(String, Value)>,
    /// Changed files of a pull request, by repository and number.
    pull_files: HashMap<(String, u64), Vec<Value>>,
    /// Commit messages, by repository and SHA.
    messages: HashMap<(String, String), String>,
    calls: Vec<GitHubCall>,
    injections: Vec<Injection>,
    required_token: Option<String>,
    latency: Option<Duration>,
    next_status_id: u64,
}

struct Reply {
    status: u16,
    body: Vec<u8>,
    mime: &'static str,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: body.to_string().into_bytes(),
            mime: JSON,
            headers: Vec::new(),
        }
    }

    fn message(status: u16, message: &str, documentation_url: &str) -> Self {
        Self::json(
            status,
            json!({
                "message": message,
                "documentation_url": documentation_url,
                "status": status.to_string(),
            }),
        )
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

enum Auth {
    Missing,
    Invalid,
    Token(String),
}

impl FakeGitHub {
    /// Start a fake with the API at the root, like api.github.com.
    pub async fn start() -> Self {
        Self::start_with_prefix("").await
    }

    /// Start a fake with the API under a path prefix, like GitHub Enterprise Server's `/api/v3`.
    pub async fn start_with_prefix(prefix: &str) -> Self {
        let prefix = match prefix.trim_end_matches('/') {
            "" => String::new(),
            p if p.starts_with('/') => p.to_string(),
            p => format!("/{p}"),
        };
        let server = super::listen().await;
        let state = Arc::new(Mutex::new(State {
            base: format!("{}{prefix}", server.uri()),
            prefix: prefix.clone(),
            next_status_id: 30_000_000_001,
            ..State::default()
        }));
        super::answer_all(
            &server,
            Responder {
                state: Arc::clone(&state),
            },
        )
        .await;
        Self {
            server,
            state,
            prefix,
        }
    }

    /// The base URL for `GITHUB_API_URL` (with the prefix, no trailing slash).
    pub fn url(&self) -> String {
        format!("{}{}", self.server.uri(), self.prefix)
    }

    /// The server's root, without the prefix.
    pub fn root(&self) -> String {
        self.server.uri()
    }

    /// The path prefix ("" or e.g. "/api/v3").
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Delay every response by `latency`.
    pub fn with_latency(self, latency: Duration) -> Self {
        self.set_latency(latency);
        self
    }

    /// Like [`FakeGitHub::with_latency`], on a shared reference.
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.state).latency = Some(latency).filter(|d| !d.is_zero());
    }

    /// Accept only this token (default: any well-formed token is accepted).
    pub fn require_token(&self, token: &str) {
        lock(&self.state).required_token = Some(token.to_string());
    }

    /// Serve `bytes` at `path` of `repo` (`owner/name`) for `git_ref` (a branch, tag or SHA,
    /// matched literally; a request without `ref` uses the default branch).
    pub fn add_file(&self, repo: &str, git_ref: &str, path: &str, bytes: impl Into<Vec<u8>>) {
        lock(&self.state).files.insert(
            (
                repo.to_string(),
                git_ref.to_string(),
                path.trim_start_matches('/').to_string(),
            ),
            bytes.into(),
        );
    }

    /// A ref (branch or tag) of `repo` that exists without any file served at it. Refs with
    /// files, and the default branch, exist already.
    pub fn add_ref(&self, repo: &str, git_ref: &str) {
        lock(&self.state)
            .refs
            .push((repo.to_string(), git_ref.to_string()));
    }

    /// A repository the token cannot see (private, or another owner's): every request about it
    /// is answered 404 "Not Found", as GitHub does.
    pub fn hide_repository(&self, repo: &str) {
        lock(&self.state).hidden.push(repo.to_string());
    }

    /// The commit SHA the fake gives `git_ref` of `repo` (deterministic).
    pub fn ref_sha(repo: &str, git_ref: &str) -> String {
        sha1(format!("{repo}@{git_ref}").as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Set a repository's default branch (default "main").
    pub fn set_default_branch(&self, repo: &str, branch: &str) {
        lock(&self.state)
            .default_branches
            .insert(repo.to_string(), branch.to_string());
    }

    /// Make `sha` the head of `branches` of `repo` (for `.../commits/{sha}/branches-where-head`).
    pub fn set_branches_where_head(&self, repo: &str, sha: &str, branches: &[&str]) {
        lock(&self.state).branch_heads.insert(
            (repo.to_string(), sha.to_string()),
            branches.iter().map(|b| b.to_string()).collect(),
        );
    }

    /// Associate pull request `number` of `repo` with commit `sha` (for
    /// `.../commits/{sha}/pulls`): from `head_ref` at `head_sha` into `base_ref`, `state`
    /// `open` or `closed` (with `merged_at` when `merged`). Returns the object as listed.
    #[allow(clippy::too_many_arguments)]
    pub fn add_commit_pull(
        &self,
        repo: &str,
        sha: &str,
        number: u64,
        head_ref: &str,
        head_sha: &str,
        base_ref: &str,
        state: &str,
        merged: bool,
    ) -> Value {
        let mut shared = lock(&self.state);
        let api = format!("{}/repos/{repo}", shared.base);
        let owner = repo.split('/').next().unwrap_or(repo);
        let user = user_json(&shared.base, "octocat", 583_231, "User");
        let repo_json = json!({
            "id": 700_000_000 + (fnv(repo) % 100_000_000),
            "name": repo.split('/').nth(1),
            "full_name": repo,
            "private": false,
            "fork": false,
            "url": api,
        });
        let pull = json!({
            "url": format!("{api}/pulls/{number}"),
            "id": 1_800_000_000 + number,
            "node_id": format!("PR_kwDOKx0aAc{number}"),
            "html_url": format!("https://github.com/{repo}/pull/{number}"),
            "number": number,
            "state": state,
            "locked": false,
            "title": format!("Pull request {number}"),
            "user": user,
            "body": null,
            "labels": [],
            "created_at": "2026-12-01T10:00:00Z",
            "updated_at": "2026-12-04T10:00:00Z",
            "closed_at": if state == "closed" { json!("2026-12-04T11:00:00Z") } else { Value::Null },
            "merged_at": if merged { json!("2026-12-04T11:00:00Z") } else { Value::Null },
            "merge_commit_sha": "5b7c4e5b2f8e1f0d3c9a7b6e5d4c3b2a19080706",
            "draft": false,
            "head": {"label": format!("{owner}:{head_ref}"), "ref": head_ref, "sha": head_sha,
                     "user": user_json(&shared.base, owner, 90_000_001, "Organization"), "repo": repo_json.clone()},
            "base": {"label": format!("{owner}:{base_ref}"), "ref": base_ref,
                     "sha": "0000000000000000000000000000000000000b45",
                     "user": user_json(&shared.base, owner, 90_000_001, "Organization"), "repo": repo_json},
            "author_association": "MEMBER",
        });
        shared
            .commit_pulls
            .entry((repo.to_string(), sha.to_string()))
            .or_default()
            .push(pull.clone());
        pull
    }

    /// Record a status as if it had been posted earlier (by a gate run before the test, say);
    /// its `token` is `None`. Not recorded as a call.
    pub fn add_status(&self, repo: &str, sha: &str, state: &str, context: &str, description: &str) {
        self.add_status_at(repo, sha, state, context, description, now());
    }

    /// [`FakeGitHub::add_status`], posted at `at` (its `created_at` and `updated_at`).
    pub fn add_status_at(
        &self,
        repo: &str,
        sha: &str,
        state: &str,
        context: &str,
        description: &str,
        at: OffsetDateTime,
    ) {
        let mut shared = lock(&self.state);
        let id = shared.next_status_id;
        shared.next_status_id += 1;
        let at = timestamp(at);
        shared.statuses.push((
            id,
            at,
            RecordedStatus {
                repo: repo.to_string(),
                sha: sha.to_string(),
                state: state.to_string(),
                context: context.to_string(),
                description: Some(description.to_string()),
                target_url: None,
                token: None,
            },
        ));
    }

    /// Add an open pull request `number` of `repo` (`owner/name`) from branch `head_ref` at
    /// `head_sha` into `base_ref`, opened by `author` (login, account id), changing `files`.
    /// `fork`: the head is in another repository. Returns the pull request object, which
    /// [`FakeGitHub::update_pull`] can change.
    #[allow(clippy::too_many_arguments)]
    pub fn add_pull(
        &self,
        repo: &str,
        number: u64,
        head_sha: &str,
        head_ref: &str,
        base_ref: &str,
        author: (&str, u64),
        files: &[&str],
        fork: bool,
    ) -> Value {
        let mut state = lock(&self.state);
        let api = format!("{}/repos/{repo}", state.base);
        let head_repo = if fork {
            format!("{}/{}", author.0, repo.split('/').nth(1).unwrap_or(repo))
        } else {
            repo.to_string()
        };
        let user = user_json(&state.base, author.0, author.1, "User");
        let pull = json!({
            "url": format!("{api}/pulls/{number}"),
            "id": 1_900_000_000 + number,
            "node_id": format!("PR_kwDOKx0aAc{number}"),
            "html_url": format!("https://github.com/{repo}/pull/{number}"),
            "number": number,
            "state": "open",
            "locked": false,
            "title": format!("Pull request {number}"),
            "user": user,
            "body": null,
            "created_at": "2026-12-04T10:00:00Z",
            "updated_at": timestamp(now()),
            "closed_at": null,
            "merged_at": null,
            "draft": false,
            "head": {"label": format!("{}:{head_ref}", author.0), "ref": head_ref, "sha": head_sha,
                     "user": user_json(&state.base, author.0, author.1, "User"),
                     "repo": {"id": 800_000_000 + number, "name": head_repo.split('/').nth(1), "full_name": head_repo, "fork": fork}},
            "base": {"label": format!("{}:{base_ref}", repo.split('/').next().unwrap_or(repo)), "ref": base_ref,
                     "sha": "0000000000000000000000000000000000000b45",
                     "repo": {"id": 700_000_000 + (fnv(repo) % 100_000_000), "name": repo.split('/').nth(1), "full_name": repo, "fork": false}},
            "author_association": "MEMBER",
            "changed_files": files.len(),
        });
        let listed: Vec<Value> = files
            .iter()
            .map(|f| {
                json!({"sha": "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391", "filename": f, "status": "modified",
                       "additions": 1, "deletions": 0, "changes": 1,
                       "blob_url": format!("https://github.com/{repo}/blob/{head_sha}/{f}"),
                       "raw_url": format!("https://github.com/{repo}/raw/{head_sha}/{f}"),
                       "contents_url": format!("{api}/contents/{f}?ref={head_sha}"),
                       "patch": "@@ -1 +1 @@"})
            })
            .collect();
        state.pull_files.insert((repo.to_string(), number), listed);
        state.pulls.push((repo.to_string(), pull.clone()));
        pull
    }

    /// Change a pull request added with [`FakeGitHub::add_pull`].
    pub fn update_pull(&self, repo: &str, number: u64, change: impl FnOnce(&mut Value)) {
        let mut state = lock(&self.state);
        let pull = state
            .pulls
            .iter_mut()
            .find(|(r, p)| r == repo && p["number"] == number)
            .map(|(_, p)| p)
            .expect("no such pull request");
        change(pull);
    }

    /// Replace a pull request's changed files with `count` generated paths under `dir/` (for
    /// the 3,000-file limit).
    pub fn set_many_pull_files(&self, repo: &str, number: u64, dir: &str, count: usize) {
        let files: Vec<Value> = (0..count)
            .map(|i| json!({"sha": "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391", "filename": format!("{dir}/f{i}.md"), "status": "added", "additions": 1, "deletions": 0, "changes": 1}))
            .collect();
        let mut state = lock(&self.state);
        state.pull_files.insert((repo.to_string(), number), files);
        if let Some((_, p)) = state
            .pulls
            .iter_mut()
            .find(|(r, p)| r == repo && p["number"] == number)
        {
            p["changed_files"] = json!(count);
        }
    }

    /// The message of commit `sha` of `repo` (for `GET .../git/commits/{sha}`).
    pub fn set_commit_message(&self, repo: &str, sha: &str, message: &str) {
        lock(&self.state)
            .messages
            .insert((repo.to_string(), sha.to_string()), message.to_string());
    }

    /// Every accepted commit status, oldest first.
    pub fn statuses(&self) -> Vec<RecordedStatus> {
        lock(&self.state)
            .statuses
            .iter()
            .map(|(_, _, s)| s.clone())
            .collect()
    }

    /// Every request so far, in arrival order (faulted ones included, marked).
    pub fn calls(&self) -> Vec<GitHubCall> {
        lock(&self.state).calls.clone()
    }

    /// How many POST requests arrived (faulted and rejected ones included).
    pub fn count_posts(&self) -> usize {
        lock(&self.state)
            .calls
            .iter()
            .filter(|c| c.method == "POST")
            .count()
    }

    /// Answer the next `times` requests (any method) with `fault`.
    pub fn inject(&self, fault: GitHubFault, times: usize) {
        self.inject_on("*", fault, times);
    }

    /// Answer the next `times` requests with this method (`"POST"`, `"GET"`, or `"*"`) with
    /// `fault`. Injections are consumed in the order they were made.
    pub fn inject_on(&self, method: &str, fault: GitHubFault, times: usize) {
        lock(&self.state).injections.push(Injection {
            method: method.to_ascii_uppercase(),
            fault,
            remaining: times,
        });
    }
}

struct Responder {
    state: Arc<Mutex<State>>,
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let method = request.method.as_str().to_string();
        let authorization = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let accept = request
            .headers
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = serde_json::from_slice::<Value>(&request.body).ok();

        let mut state = lock(&self.state);
        let auth = state.auth(authorization);
        let fault = state.take_fault(&method);
        state.calls.push(GitHubCall {
            method: method.clone(),
            path: request.url.path().to_string(),
            query: request.url.query().map(str::to_string),
            faulted: fault.is_some(),
            token: match &auth {
                Auth::Token(t) => Some(t.clone()),
                _ => authorization.and_then(token_of),
            },
            body: body.clone(),
        });
        let mut delay = state.latency;
        let reply = match fault {
            Some(GitHubFault::Hang) => {
                delay = Some(delay.unwrap_or_default() + HANG);
                state.route(request, &method, &auth, &accept)
            }
            Some(fault) => fault_reply(&fault, &method),
            None => state.route(request, &method, &auth, &accept),
        };
        let served = state.calls.len();
        drop(state);

        let reset = now().unix_timestamp() + 3600;
        let mut template = ResponseTemplate::new(reply.status)
            .insert_header("x-github-request-id", request_id(served))
            .insert_header("x-github-media-type", "github.v3; format=json")
            .insert_header("x-github-api-version-selected", "2022-11-28")
            .insert_header("x-ratelimit-limit", "5000")
            .insert_header("x-ratelimit-resource", "core");
        if !reply
            .headers
            .iter()
            .any(|(n, _)| *n == "x-ratelimit-remaining")
        {
            template = template
                .insert_header(
                    "x-ratelimit-remaining",
                    5000usize.saturating_sub(served).to_string(),
                )
                .insert_header("x-ratelimit-used", served.to_string())
                .insert_header("x-ratelimit-reset", reset.to_string());
        }
        for (name, value) in &reply.headers {
            template = template.insert_header(*name, value.as_str());
        }
        template = template.set_body_raw(reply.body, reply.mime);
        if let Some(delay) = delay {
            template = template.set_delay(delay);
        }
        template
    }
}

fn fault_reply(fault: &GitHubFault, method: &str) -> Reply {
    match fault {
        GitHubFault::Status(code @ (502..=504)) => {
            let title = match code {
                502 => "502 Bad Gateway",
                503 => "503 Service Unavailable",
                _ => "504 Gateway Time-out",
            };
            Reply {
                status: *code,
                body: format!(
                    "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>\
                     {title}</h1></center>\r\n<hr><center>GitHub</center>\r\n</body>\r\n\
                     </html>\r\n"
                )
                .into_bytes(),
                mime: "text/html",
                headers: Vec::new(),
            }
        }
        GitHubFault::Status(500) => Reply::json(500, json!({"message": "Server Error"})),
        GitHubFault::Status(code) => Reply::message(*code, &format!("HTTP {code}"), DOCS),
        GitHubFault::RateLimited { retry_after_secs } => Reply::message(
            429,
            "API rate limit exceeded for installation ID 4242424.",
            "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
        )
        .header("retry-after", retry_after_secs.to_string())
        .header("x-ratelimit-remaining", "0")
        .header("x-ratelimit-used", "5000")
        .header(
            "x-ratelimit-reset",
            (now().unix_timestamp() + *retry_after_secs as i64).to_string(),
        ),
        GitHubFault::SecondaryRateLimit { retry_after_secs } => Reply::json(
            403,
            json!({
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes \
                            before you try again. If you reach out to GitHub Support for help, \
                            please include the request ID 8C1E:3A4B:1F2D3C:2E4F5A:6745A0B1.",
                "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/\
                                      overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                "status": "403",
            }),
        )
        .header("retry-after", retry_after_secs.to_string()),
        GitHubFault::Unauthorized => Reply::message(401, "Bad credentials", DOCS),
        GitHubFault::Forbidden => Reply::message(
            403,
            "Resource not accessible by integration",
            "https://docs.github.com/rest/commits/statuses#create-a-commit-status",
        ),
        GitHubFault::Unprocessable => Reply::json(
            422,
            json!({
                "message": "Validation Failed",
                "errors": [{
                    "resource": "Status",
                    "code": "custom",
                    "message": "This SHA and context has reached the maximum number of statuses.",
                }],
                "documentation_url": "https://docs.github.com/rest/commits/statuses#create-a-commit-status",
                "status": "422",
            }),
        ),
        GitHubFault::Malformed => Reply {
            status: if method == "POST" { 201 } else { 200 },
            body: br#"{"url": "https://api.github.com/repos/acme/api/st"#.to_vec(),
            mime: JSON,
            headers: Vec::new(),
        },
        GitHubFault::Hang => unreachable!("a hang answers normally, late"),
    }
}

/// The API URL templates of a repository object, relative to its `url`.
const REPOSITORY_URLS: [(&str, &str); 36] = [
    ("forks_url", "/forks"),
    ("keys_url", "/keys{/key_id}"),
    ("collaborators_url", "/collaborators{/collaborator}"),
    ("teams_url", "/teams"),
    ("hooks_url", "/hooks"),
    ("issue_events_url", "/issues/events{/number}"),
    ("events_url", "/events"),
    ("assignees_url", "/assignees{/user}"),
    ("branches_url", "/branches{/branch}"),
    ("tags_url", "/tags"),
    ("blobs_url", "/git/blobs{/sha}"),
    ("git_tags_url", "/git/tags{/sha}"),
    ("git_refs_url", "/git/refs{/sha}"),
    ("trees_url", "/git/trees{/sha}"),
    ("statuses_url", "/statuses/{sha}"),
    ("languages_url", "/languages"),
    ("stargazers_url", "/stargazers"),
    ("contributors_url", "/contributors"),
    ("subscribers_url", "/subscribers"),
    ("subscription_url", "/subscription"),
    ("commits_url", "/commits{/sha}"),
    ("git_commits_url", "/git/commits{/sha}"),
    ("comments_url", "/comments{/number}"),
    ("issue_comment_url", "/issues/comments{/number}"),
    ("contents_url", "/contents/{+path}"),
    ("compare_url", "/compare/{base}...{head}"),
    ("merges_url", "/merges"),
    ("archive_url", "/{archive_format}{/ref}"),
    ("downloads_url", "/downloads"),
    ("issues_url", "/issues{/number}"),
    ("pulls_url", "/pulls{/number}"),
    ("milestones_url", "/milestones{/number}"),
    (
        "notifications_url",
        "/notifications{?since,all,participating}",
    ),
    ("labels_url", "/labels{/name}"),
    ("releases_url", "/releases{/id}"),
    ("deployments_url", "/deployments"),
];

fn not_found(documentation_url: &str) -> Reply {
    Reply::message(404, "Not Found", documentation_url)
}

impl State {
    fn auth(&self, header: Option<&str>) -> Auth {
        let Some(header) = header else {
            return Auth::Missing;
        };
        match token_of(header) {
            Some(token) if self.required_token.as_deref().is_none_or(|t| t == token) => {
                Auth::Token(token)
            }
            _ => Auth::Invalid,
        }
    }

    fn take_fault(&mut self, method: &str) -> Option<GitHubFault> {
        let injection = self
            .injections
            .iter_mut()
            .find(|i| i.remaining > 0 && (i.method == "*" || i.method == method))?;
        injection.remaining -= 1;
        let fault = injection.fault.clone();
        self.injections.retain(|i| i.remaining > 0);
        Some(fault)
    }

    fn route(&mut self, request: &Request, method: &str, auth: &Auth, accept: &str) -> Reply {
        let Some(path) = request.url.path().strip_prefix(self.prefix.as_str()) else {
            return not_found(DOCS);
        };
        if matches!(auth, Auth::Invalid) {
            return Reply::message(401, "Bad credentials", DOCS);
        }
        let segments: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(percent_decode)
            .collect();
        let query = |key: &str| {
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.into_owned())
        };
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        if let ["repos", owner, repo, ..] = segs.as_slice()
            && self.hidden.contains(&format!("{owner}/{repo}"))
        {
            return not_found(DOCS);
        }
        match (method, segs.as_slice()) {
            ("GET", ["repos", owner, repo]) => self.repository(owner, repo),
            ("POST", ["repos", owner, repo, "statuses", sha]) => {
                self.create_status(owner, repo, sha, auth, &request.body)
            }
            ("GET", ["repos", owner, repo, "commits", git_ref, "status"]) => {
                let number = |key: &str| query(key).and_then(|v| v.parse::<usize>().ok());
                self.combined_status(owner, repo, git_ref, number("per_page"), number("page"))
            }
            ("GET", ["repos", owner, repo, "statuses", git_ref])
            | ("GET", ["repos", owner, repo, "commits", git_ref, "statuses"]) => {
                self.list_statuses(owner, repo, git_ref)
            }
            ("GET", ["repos", owner, repo, "pulls"]) => {
                let number = |key: &str| query(key).and_then(|v| v.parse::<usize>().ok());
                let state = query("state").unwrap_or_else(|| "open".into());
                self.list_pulls(owner, repo, &state, number("per_page"), number("page"))
            }
            ("GET", ["repos", owner, repo, "pulls", number]) => self.pull(owner, repo, number),
            ("GET", ["repos", owner, repo, "pulls", number, "files"]) => {
                let n = |key: &str| query(key).and_then(|v| v.parse::<usize>().ok());
                self.pull_files(owner, repo, number, n("per_page"), n("page"))
            }
            ("GET", ["repos", owner, repo, "git", "commits", sha]) => {
                self.git_commit(owner, repo, sha)
            }
            ("GET", ["repos", owner, repo, "commits", sha, "branches-where-head"]) => {
                self.branches_where_head(owner, repo, sha)
            }
            ("GET", ["repos", owner, repo, "commits", sha, "pulls"]) => {
                let number = |key: &str| query(key).and_then(|v| v.parse::<usize>().ok());
                self.commit_pulls(owner, repo, sha, number("per_page"), number("page"))
            }
            ("GET", ["repos", owner, repo, "commits", rest @ ..]) if !rest.is_empty() => {
                self.commit(owner, repo, &rest.join("/"))
            }
            ("GET", ["repos", owner, repo, "contents", rest @ ..]) if !rest.is_empty() => {
                let git_ref = query("ref");
                self.contents(owner, repo, &rest.join("/"), git_ref, accept)
            }
            _ => not_found(DOCS),
        }
    }

    fn repository(&self, owner: &str, repo: &str) -> Reply {
        let full = format!("{owner}/{repo}");
        let api = format!("{}/repos/{full}", self.base);
        let branch = self.default_branch(&full);
        let mut repository = json!({
            "id": 700_000_000 + (fnv(&full) % 100_000_000),
            "node_id": "R_kgDOKx0aAQ",
            "name": repo,
            "full_name": full,
            "private": false,
            "owner": user_json(&self.base, owner, 90_000_001 + fnv(owner) % 1000, "Organization"),
            "html_url": format!("https://github.com/{full}"),
            "description": format!("{repo} (fake)"),
            "fork": false,
            "url": api,
            "created_at": "2024-03-01T09:00:00Z",
            "updated_at": "2026-11-20T14:00:00Z",
            "pushed_at": "2026-11-20T14:02:00Z",
            "git_url": format!("git://github.com/{full}.git"),
            "ssh_url": format!("git@github.com:{full}.git"),
            "clone_url": format!("https://github.com/{full}.git"),
            "svn_url": format!("https://github.com/{full}"),
        });
        let details = json!({
            "homepage": null,
            "size": 4096,
            "stargazers_count": 0,
            "watchers_count": 0,
            "language": "Rust",
            "has_issues": true,
            "has_projects": false,
            "has_downloads": true,
            "has_wiki": false,
            "has_pages": false,
            "has_discussions": false,
            "forks_count": 0,
            "mirror_url": null,
            "archived": false,
            "disabled": false,
            "open_issues_count": 0,
            "license": null,
            "allow_forking": true,
            "is_template": false,
            "web_commit_signoff_required": false,
            "topics": [],
            "visibility": "public",
            "forks": 0,
            "open_issues": 0,
            "watchers": 0,
            "default_branch": branch,
            "permissions": {
                "admin": false, "maintain": false, "push": true, "triage": true, "pull": true,
            },
            "network_count": 0,
            "subscribers_count": 0,
        });
        // Built in parts: one json! literal this size exceeds the macro recursion limit.
        if let (Some(map), Value::Object(details)) = (repository.as_object_mut(), details) {
            map.extend(details);
        }
        for (key, suffix) in REPOSITORY_URLS {
            repository[key] = json!(format!("{api}{suffix}"));
        }
        Reply::json(200, repository)
    }

    fn list_pulls(
        &self,
        owner: &str,
        repo: &str,
        state: &str,
        per_page: Option<usize>,
        page: Option<usize>,
    ) -> Reply {
        let full = format!("{owner}/{repo}");
        let per_page = per_page.unwrap_or(30).clamp(1, 100);
        let page = page.unwrap_or(1).max(1);
        let list: Vec<Value> = self
            .pulls
            .iter()
            .filter(|(r, p)| *r == full && (state == "all" || p["state"] == state))
            .map(|(_, p)| {
                let mut p = p.clone();
                // The list's items have no counts (GitHub sends them only for one pull).
                if let Some(map) = p.as_object_mut() {
                    map.remove("changed_files");
                }
                p
            })
            .skip((page - 1) * per_page)
            .take(per_page)
            .collect();
        Reply::json(200, Value::Array(list))
    }

    fn pull(&self, owner: &str, repo: &str, number: &str) -> Reply {
        let full = format!("{owner}/{repo}");
        let number = number.parse::<u64>().ok();
        match self
            .pulls
            .iter()
            .find(|(r, p)| *r == full && p["number"].as_u64() == number)
        {
            Some((_, p)) => Reply::json(200, p.clone()),
            None => not_found("https://docs.github.com/rest/pulls/pulls#get-a-pull-request"),
        }
    }

    /// At most 3,000 files, as GitHub documents for this endpoint.
    fn pull_files(
        &self,
        owner: &str,
        repo: &str,
        number: &str,
        per_page: Option<usize>,
        page: Option<usize>,
    ) -> Reply {
        let key = (
            format!("{owner}/{repo}"),
            number.parse::<u64>().unwrap_or(0),
        );
        let Some(files) = self.pull_files.get(&key) else {
            return not_found("https://docs.github.com/rest/pulls/pulls#list-pull-requests-files");
        };
        let per_page = per_page.unwrap_or(30).clamp(1, 100);
        let page = page.unwrap_or(1).max(1);
        let list: Vec<Value> = files
            .iter()
            .take(3000)
            .skip((page - 1) * per_page)
            .take(per_page)
            .cloned()
            .collect();
        Reply::json(200, Value::Array(list))
    }

    fn git_commit(&self, owner: &str, repo: &str, sha: &str) -> Reply {
        let full = format!("{owner}/{repo}");
        let Some(message) = self.messages.get(&(full.clone(), sha.to_string())) else {
            return not_found("https://docs.github.com/rest/git/commits#get-a-commit-object");
        };
        let api = format!("{}/repos/{full}", self.base);
        Reply::json(
            200,
            json!({
                "sha": sha,
                "node_id": "C_kwDOKx0aAdoAKDE",
                "url": format!("{api}/git/commits/{sha}"),
                "html_url": format!("https://github.com/{full}/commit/{sha}"),
                "author": {"name": "Ada", "email": "ada@example.com", "date": "2026-12-04T10:00:00Z"},
                "committer": {"name": "Ada", "email": "ada@example.com", "date": "2026-12-04T10:00:00Z"},
                "tree": {"sha": "4b825dc642cb6eb9a060e54bf8d69288fbee4904", "url": format!("{api}/git/trees/4b825dc642cb6eb9a060e54bf8d69288fbee4904")},
                "message": message,
                "parents": [],
                "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null},
            }),
        )
    }

    /// The ref name `git_ref` stands for in `full` (itself, or the ref whose SHA it is), when
    /// it exists: the default branch, a ref with files, or one added with `add_ref`.
    fn existing_ref(&self, full: &str, git_ref: &str) -> Option<String> {
        let mut names: Vec<String> = vec![self.default_branch(full)];
        names.extend(
            self.files
                .keys()
                .filter(|(r, _, _)| r == full)
                .map(|(_, name, _)| name.clone()),
        );
        names.extend(
            self.refs
                .iter()
                .filter(|(r, _)| r == full)
                .map(|(_, name)| name.clone()),
        );
        let bare = |name: &str| {
            name.strip_prefix("refs/heads/")
                .or_else(|| name.strip_prefix("heads/"))
                .or_else(|| name.strip_prefix("refs/tags/"))
                .or_else(|| name.strip_prefix("tags/"))
                .unwrap_or(name)
                .to_string()
        };
        names.into_iter().find(|name| {
            bare(name) == bare(git_ref) || FakeGitHub::ref_sha(full, &bare(name)) == git_ref
        })
    }

    /// `GET /repos/{owner}/{repo}/commits/{ref}`: the commit a ref points at; an unknown ref is
    /// 422 "No commit found for SHA: …", as GitHub answers it.
    fn commit(&self, owner: &str, repo: &str, git_ref: &str) -> Reply {
        let docs = "https://docs.github.com/rest/commits/commits#get-a-commit";
        let full = format!("{owner}/{repo}");
        let Some(name) = self.existing_ref(&full, git_ref) else {
            return Reply::message(422, &format!("No commit found for SHA: {git_ref}"), docs);
        };
        let bare = name.rsplit_once("heads/").map_or(name.as_str(), |(_, b)| b);
        let sha = FakeGitHub::ref_sha(&full, bare);
        let api = format!("{}/repos/{full}", self.base);
        Reply::json(
            200,
            json!({
                "sha": sha,
                "node_id": "C_kwDOKx0aAdoAKDAx",
                "url": format!("{api}/commits/{sha}"),
                "html_url": format!("https://github.com/{full}/commit/{sha}"),
                "commit": {"message": format!("head of {name}"), "tree": {"sha": sha}},
                "parents": [],
                "files": [],
            }),
        )
    }

    fn default_branch(&self, full: &str) -> String {
        self.default_branches
            .get(full)
            .cloned()
            .unwrap_or_else(|| "main".to_string())
    }

    fn create_status(
        &mut self,
        owner: &str,
        repo: &str,
        sha: &str,
        auth: &Auth,
        body: &[u8],
    ) -> Reply {
        let docs = "https://docs.github.com/rest/commits/statuses#create-a-commit-status";
        let token = match auth {
            Auth::Token(token) => token.clone(),
            // GitHub answers a missing token on this endpoint with "Requires authentication",
            // and a wrong one with "Bad credentials".
            Auth::Missing => return Reply::message(401, "Requires authentication", docs),
            Auth::Invalid => return Reply::message(401, "Bad credentials", DOCS),
        };
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
            return Reply::message(400, "Problems parsing JSON", docs);
        };
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_string);
        let invalid = |field: &str, message: &str| {
            Reply::json(
                422,
                json!({
                    "message": "Validation Failed",
                    "errors": [{"resource": "Status", "code": "custom", "field": field, "message": message}],
                    "documentation_url": docs,
                    "status": "422",
                }),
            )
        };
        let Some(state) = text("state") else {
            return Reply::message(422, "Invalid request.\n\n\"state\" wasn't supplied.", docs);
        };
        if !["error", "failure", "pending", "success"].contains(&state.as_str()) {
            return invalid("state", "state is not included in the list");
        }
        let description = text("description");
        if description
            .as_deref()
            .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS)
        {
            return invalid(
                "description",
                "description is too long (maximum is 140 characters)",
            );
        }
        let context = text("context").unwrap_or_else(|| "default".to_string());
        let target_url = text("target_url");
        let id = self.next_status_id;
        self.next_status_id += 1;
        let at = timestamp(now());
        let full = format!("{owner}/{repo}");
        let record = RecordedStatus {
            repo: full.clone(),
            sha: sha.to_string(),
            state,
            context,
            description,
            target_url,
            token: Some(token),
        };
        let location = format!("{}/repos/{full}/statuses/{sha}", self.base);
        let json = self.status_json(id, &at, &record);
        self.statuses.push((id, at, record));
        let mut reply = Reply::json(201, json);
        reply.headers.push(("location", location));
        reply
    }

    fn status_json(&self, id: u64, at: &str, s: &RecordedStatus) -> Value {
        json!({
            "url": format!("{}/repos/{}/statuses/{}", self.base, s.repo, s.sha),
            "avatar_url": "https://avatars.githubusercontent.com/in/15368?v=4",
            "id": id,
            "node_id": format!("SC_kwDOKx0aAc8AAAAH{id:x}"),
            "state": s.state,
            "description": s.description,
            "target_url": s.target_url,
            "context": s.context,
            "created_at": at,
            "updated_at": at,
            "creator": user_json(&self.base, "github-actions[bot]", 41_898_282, "Bot"),
        })
    }

    fn branches_where_head(&self, owner: &str, repo: &str, sha: &str) -> Reply {
        let full = format!("{owner}/{repo}");
        let list: Vec<Value> = self
            .branch_heads
            .get(&(full.clone(), sha.to_string()))
            .map(|names| {
                names
                    .iter()
                    .map(|name| {
                        json!({
                            "name": name,
                            "commit": {"sha": sha, "url": format!("{}/repos/{full}/commits/{sha}", self.base)},
                            "protected": name == "main",
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Reply::json(200, Value::Array(list))
    }

    fn commit_pulls(
        &self,
        owner: &str,
        repo: &str,
        sha: &str,
        per_page: Option<usize>,
        page: Option<usize>,
    ) -> Reply {
        let full = format!("{owner}/{repo}");
        let per_page = per_page.unwrap_or(30).clamp(1, 100);
        let page = page.unwrap_or(1).max(1);
        // Those associated by hand, then the repository's pull requests headed by the commit.
        let mut all = self
            .commit_pulls
            .get(&(full.clone(), sha.to_string()))
            .cloned()
            .unwrap_or_default();
        all.extend(
            self.pulls
                .iter()
                .filter(|(r, p)| *r == full && p["head"]["sha"] == sha)
                .map(|(_, p)| p.clone()),
        );
        let list: Vec<Value> = all
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .collect();
        Reply::json(200, Value::Array(list))
    }

    fn list_statuses(&self, owner: &str, repo: &str, git_ref: &str) -> Reply {
        let full = format!("{owner}/{repo}");
        let list: Vec<Value> = self
            .statuses
            .iter()
            .rev()
            .filter(|(_, _, s)| s.repo == full && s.sha == git_ref)
            .map(|(id, at, s)| self.status_json(*id, at, s))
            .collect();
        Reply::json(200, Value::Array(list))
    }

    /// The combined status: the latest status of each context, newest first, one page of
    /// contexts; `state` over all of them as GitHub computes it.
    fn combined_status(
        &self,
        owner: &str,
        repo: &str,
        git_ref: &str,
        per_page: Option<usize>,
        page: Option<usize>,
    ) -> Reply {
        let full = format!("{owner}/{repo}");
        let mut latest: Vec<&(u64, String, RecordedStatus)> = Vec::new();
        for entry in self.statuses.iter().rev() {
            let s = &entry.2;
            if s.repo == full
                && s.sha == git_ref
                && !latest.iter().any(|e| e.2.context == s.context)
            {
                latest.push(entry);
            }
        }
        let states: Vec<&str> = latest.iter().map(|e| e.2.state.as_str()).collect();
        let state = if states.iter().any(|s| *s == "error" || *s == "failure") {
            "failure"
        } else if states.is_empty() || states.contains(&"pending") {
            "pending"
        } else {
            "success"
        };
        let per_page = per_page.unwrap_or(30).clamp(1, 100);
        let page = page.unwrap_or(1).max(1);
        let statuses: Vec<Value> = latest
            .iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|(id, at, s)| {
                let mut json = self.status_json(*id, at, s);
                if let Some(map) = json.as_object_mut() {
                    map.remove("creator");
                }
                json
            })
            .collect();
        let api = format!("{}/repos/{full}", self.base);
        Reply::json(
            200,
            json!({
                "state": state,
                "statuses": statuses,
                "sha": git_ref,
                "total_count": latest.len(),
                "repository": {"id": 700_000_000 + (fnv(&full) % 100_000_000), "name": repo, "full_name": full, "url": api},
                "commit_url": format!("{api}/commits/{git_ref}"),
                "url": format!("{api}/commits/{git_ref}/status"),
            }),
        )
    }

    fn contents(
        &self,
        owner: &str,
        repo: &str,
        path: &str,
        git_ref: Option<String>,
        accept: &str,
    ) -> Reply {
        let docs = "https://docs.github.com/rest/repos/contents#get-repository-content";
        let full = format!("{owner}/{repo}");
        let git_ref = git_ref.unwrap_or_else(|| self.default_branch(&full));
        // A SHA names the ref whose head it is.
        let git_ref = self
            .files
            .keys()
            .filter(|(r, _, _)| *r == full)
            .map(|(_, name, _)| name.clone())
            .find(|name| FakeGitHub::ref_sha(&full, name) == git_ref)
            .unwrap_or(git_ref);
        let key = (full.clone(), git_ref.clone(), path.to_string());
        let Some(bytes) = self.files.get(&key) else {
            return not_found(docs);
        };
        if accept.contains("raw") {
            return Reply {
                status: 200,
                body: bytes.clone(),
                mime: "application/vnd.github.raw",
                headers: Vec::new(),
            };
        }
        let sha = git_blob_sha(bytes);
        let name = path.rsplit('/').next().unwrap_or(path);
        let api = format!("{}/repos/{full}", self.base);
        let self_url = format!("{api}/contents/{path}?ref={git_ref}");
        let git_url = format!("{api}/git/blobs/{sha}");
        let html_url = format!("https://github.com/{full}/blob/{git_ref}/{path}");
        Reply::json(
            200,
            json!({
                "name": name,
                "path": path,
                "sha": sha,
                "size": bytes.len(),
                "url": self_url,
                "html_url": html_url,
                "git_url": git_url,
                "download_url": format!("https://raw.githubusercontent.com/{full}/{git_ref}/{path}"),
                "type": "file",
                "content": base64_wrapped(bytes),
                "encoding": "base64",
                "_links": {"self": self_url, "git": git_url, "html": html_url},
            }),
        )
    }
}

fn user_json(base: &str, login: &str, id: u64, kind: &str) -> Value {
    let escaped = login.replace('[', "%5B").replace(']', "%5D");
    let api = format!("{base}/users/{escaped}");
    let html = if kind == "Bot" {
        format!(
            "https://github.com/apps/{}",
            login.trim_end_matches("[bot]")
        )
    } else {
        format!("https://github.com/{login}")
    };
    json!({
        "login": login,
        "id": id,
        "node_id": format!("MDQ6VXNlcj{id}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": api,
        "html_url": html,
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": kind,
        "user_view_type": "public",
        "site_admin": false,
    })
}

/// `Bearer T` or `token T` (scheme case-insensitive) → `T`.
fn token_of(header: &str) -> Option<String> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    let known = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token");
    (known && !token.is_empty() && !token.contains(char::is_whitespace)).then(|| token.to_string())
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn timestamp(at: OffsetDateTime) -> String {
    at.replace_nanosecond(0)
        .unwrap_or(at)
        .format(&Rfc3339)
        .unwrap_or_default()
}

fn request_id(n: usize) -> String {
    let h = fnv(&n.to_string());
    format!(
        "{:04X}:{:04X}:{:06X}:{:06X}:{:08X}",
        h >> 48,
        (h >> 32) & 0xffff,
        (h >> 8) & 0xff_ffff,
        n,
        h & 0xffff_ffff
    )
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Base64 as the contents API sends it: a newline after every 60 characters and at the end.
pub fn base64_wrapped(bytes: &[u8]) -> String {
    let flat = base64(bytes);
    let mut out = String::with_capacity(flat.len() + flat.len() / 60 + 1);
    for line in flat.as_bytes().chunks(60) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out
}

/// The git blob id of `bytes` (`git hash-object`): SHA-1 of `blob <len>\0<bytes>`.
pub fn git_blob_sha(bytes: &[u8]) -> String {
    let mut data = format!("blob {}\0", bytes.len()).into_bytes();
    data.extend_from_slice(bytes);
    sha1(&data).iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-1 (FIPS 180-4), for blob ids only.
pub fn sha1(message: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut data = message.to_vec();
    data.push(0x80);
    while data.len() % 64 != 56 {
        data.push(0);
    }
    data.extend_from_slice(&((message.len() as u64) * 8).to_be_bytes());
    for block in data.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (hi, v) in h.iter_mut().zip([a, b, c, d, e]) {
            *hi = hi.wrapping_add(v);
        }
    }
    let mut out = [0u8; 20];
    for (chunk, v) in out.chunks_mut(4).zip(h) {
        chunk.copy_from_slice(&v.to_be_bytes());
    }
    out
}
