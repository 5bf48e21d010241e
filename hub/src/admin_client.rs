//! The HTTP client behind `xt-hub token create`, `agents list|revoke`, `users …`,
//! `api-keys …` and `keys rotate`: it talks to a
//! running hub's API with an owner API key, so admin commands go through the same auth, tenant
//! scoping and validation as every other caller.

use anyhow::{Context as _, anyhow};
use reqwest::{RequestBuilder, StatusCode, Url};
use serde::de::DeserializeOwned;
use std::time::Duration;
use xt_mobile_api::identity::{
    KeyRotated, UserCreate, UserList, UserPatch, UserView, check_username,
};
use xt_mobile_api::time::OffsetDateTime;
use xt_mobile_api::{
    AgentList, AgentView, ApiKeyCreate, ApiKeyCreated, ApiKeyList, ApiKeyView, ErrorBody,
    TokenCreated, TokenRequest,
};
use xt_mobile_api::{ShopCreate, ShopList, ShopPatch, ShopView};
use xt_shared::ids::AgentId;

/// Longest the client waits for a TCP connection to the hub.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest one request may take, end to end (the hub gives up on its side after 30 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(40);
/// Most characters of a non-JSON error body quoted in an error message.
const ERROR_BODY_CHARS_MAX: usize = 200;
/// Most characters of a source's last error shown in the agents table.
const TABLE_ERROR_CHARS_MAX: usize = 60;

/// A client for the hub's admin API, authenticated by one API key.
pub struct AdminClient {
    /// The hub's base URL without a trailing slash, e.g. `http://127.0.0.1:8080`.
    base: String,
    /// The API key sent as `Authorization: Bearer <key>`.
    key: String,
    http: reqwest::Client,
}

impl AdminClient {
    /// A client for the hub at `base_url` (`http://host:port`, optionally with a path prefix)
    /// using the API key `key`. Nothing is sent until the first call.
    pub fn new(base_url: &str, key: &str) -> anyhow::Result<Self> {
        let url = Url::parse(base_url).with_context(|| format!("invalid hub url {base_url:?}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(anyhow!(
                "invalid hub url {base_url:?}: expected http://host:port"
            ));
        }
        let key = key.trim();
        if key.is_empty() {
            return Err(anyhow!("api key is empty"));
        }
        if reqwest::header::HeaderValue::from_str(key).is_err() {
            return Err(anyhow!(
                "api key contains characters not allowed in an http header"
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("cannot build the http client")?;
        Ok(AdminClient {
            base: url.as_str().trim_end_matches('/').to_owned(),
            key: key.to_owned(),
            http,
        })
    }

    /// Makes a one-time enrollment token (`POST /api/v1/enrollment-tokens`).
    pub async fn create_token(&self, req: &TokenRequest) -> anyhow::Result<TokenCreated> {
        let url = format!("{}/api/v1/enrollment-tokens", self.base);
        self.send(self.http.post(url).json(req)).await
    }

    /// Every agent of the key's tenant (`GET /api/v1/agents`).
    pub async fn list_agents(&self) -> anyhow::Result<Vec<AgentView>> {
        let url = format!("{}/api/v1/agents", self.base);
        let list: AgentList = self.send(self.http.get(url)).await?;
        Ok(list.agents)
    }

    /// Revokes an agent (`POST /api/v1/agents/{id}/revoke`) and returns it as it is now.
    pub async fn revoke_agent(&self, id: &AgentId) -> anyhow::Result<AgentView> {
        // Agent ids are slugs (letters, digits, '-', '_', '.'), safe in a path as they are.
        let url = format!("{}/api/v1/agents/{id}/revoke", self.base);
        self.send(self.http.post(url)).await
    }

    /// Creates a user (`POST /api/v1/users`).
    pub async fn create_user(&self, req: &UserCreate) -> anyhow::Result<UserView> {
        let url = format!("{}/api/v1/users", self.base);
        self.send(self.http.post(url).json(req)).await
    }

    /// Every user of the key's tenant (`GET /api/v1/users`).
    pub async fn list_users(&self) -> anyhow::Result<Vec<UserView>> {
        let url = format!("{}/api/v1/users", self.base);
        let list: UserList = self.send(self.http.get(url)).await?;
        Ok(list.users)
    }

    /// Changes a user (`PATCH /api/v1/users/{username}`).
    pub async fn update_user(&self, username: &str, patch: &UserPatch) -> anyhow::Result<UserView> {
        check_username(username).map_err(|e| anyhow!("{e}"))?;
        // Checked usernames are ascii letters, digits and -_.@: safe in a path as they are.
        let url = format!("{}/api/v1/users/{username}", self.base);
        self.send(self.http.patch(url).json(patch)).await
    }

    /// Makes a new current signing key (`POST /api/v1/keys/rotate`; the client must hold the hub
    /// operator's key).
    pub async fn rotate_key(&self) -> anyhow::Result<KeyRotated> {
        let url = format!("{}/api/v1/keys/rotate", self.base);
        self.send(self.http.post(url)).await
    }

    /// Every API key of the key's tenant, newest first (`GET /api/v1/api-keys`).
    pub async fn list_api_keys(&self) -> anyhow::Result<Vec<ApiKeyView>> {
        let url = format!("{}/api/v1/api-keys", self.base);
        let list: ApiKeyList = self.send(self.http.get(url)).await?;
        Ok(list.keys)
    }

    /// Makes an API key (`POST /api/v1/api-keys`); the answer holds its secret, shown once.
    pub async fn create_api_key(&self, req: &ApiKeyCreate) -> anyhow::Result<ApiKeyCreated> {
        let url = format!("{}/api/v1/api-keys", self.base);
        self.send(self.http.post(url).json(req)).await
    }

    /// Revokes an API key (`POST /api/v1/api-keys/{id}/revoke`).
    pub async fn revoke_api_key(&self, id: &str) -> anyhow::Result<ApiKeyView> {
        let ok = !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(anyhow!(
                "invalid api key id {id:?}: expected key-… (letters, digits, '-', '_')"
            ));
        }
        let url = format!("{}/api/v1/api-keys/{id}/revoke", self.base);
        self.send(self.http.post(url)).await
    }

    /// Every shop of the key's tenant, oldest first (`GET /api/v1/shops`), without secrets.
    pub async fn list_shops(&self) -> anyhow::Result<Vec<ShopView>> {
        let url = format!("{}/api/v1/shops", self.base);
        let list: ShopList = self.send(self.http.get(url)).await?;
        Ok(list.shops)
    }

    /// Binds a shop (`POST /api/v1/shops`); the answer never holds its secrets.
    pub async fn create_shop(&self, req: &ShopCreate) -> anyhow::Result<ShopView> {
        let url = format!("{}/api/v1/shops", self.base);
        self.send(self.http.post(url).json(req)).await
    }

    /// Changes a shop (`PATCH /api/v1/shops/{id}`).
    pub async fn update_shop(&self, id: &str, patch: &ShopPatch) -> anyhow::Result<ShopView> {
        let ok = !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(anyhow!(
                "invalid shop id {id:?}: expected shop-… (letters, digits, '-', '_')"
            ));
        }
        let url = format!("{}/api/v1/shops/{id}", self.base);
        self.send(self.http.patch(url).json(patch)).await
    }

    async fn send<T: DeserializeOwned>(&self, req: RequestBuilder) -> anyhow::Result<T> {
        let response = req.bearer_auth(&self.key).send().await.map_err(|e| {
            if e.is_timeout() {
                anyhow!(
                    "hub at {} did not answer within {} s",
                    self.base,
                    REQUEST_TIMEOUT.as_secs()
                )
            } else {
                // The first link repeats the url; the rest says why (refused, dns, reset …).
                let err = anyhow::Error::from(e);
                let why: Vec<String> = err.chain().skip(1).map(ToString::to_string).collect();
                let why = if why.is_empty() {
                    err.to_string()
                } else {
                    why.join(": ")
                };
                anyhow!("cannot reach hub at {}: {why}", self.base)
            }
        })?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(refusal(status, &body));
        }
        response.json::<T>().await.with_context(|| {
            format!(
                "hub at {} sent an answer this client cannot read",
                self.base
            )
        })
    }
}

/// The error for a non-2xx answer: status, the hub's error code and message.
fn refusal(status: StatusCode, body: &str) -> anyhow::Error {
    match serde_json::from_str::<ErrorBody>(body) {
        Ok(parsed) => anyhow!(
            "hub refused ({} {}): {}",
            status.as_u16(),
            parsed.error.code,
            parsed.error.message
        ),
        Err(_) => {
            let reason = status.canonical_reason().unwrap_or("error").to_lowercase();
            let excerpt: String = body.trim().chars().take(ERROR_BODY_CHARS_MAX).collect();
            if excerpt.is_empty() {
                anyhow!("hub refused ({} {reason})", status.as_u16())
            } else {
                anyhow!("hub refused ({} {reason}): {excerpt}", status.as_u16())
            }
        }
    }
}

/// Renders agents as a plain-text table, one line per source (an agent's own columns are
/// printed on its first line only), for the CLI. Ends with a newline.
///
/// ```text
/// ID  SITE      ROLE       CONNECTED  LAST SEEN             SOURCE  SEQ  APPLIED  QUARANTINED  REJECTED  BACKLOG  LAST ERROR
/// a1  shanghai  warehouse  yes        2024-05-01T10:00:00Z  wms     42   40       1            1         0
/// ```
pub fn print_agents_table(agents: &[AgentView]) -> String {
    if agents.is_empty() {
        return "no agents enrolled\n".to_owned();
    }
    let header = [
        "ID",
        "SITE",
        "ROLE",
        "CONNECTED",
        "LAST SEEN",
        "SOURCE",
        "SEQ",
        "APPLIED",
        "QUARANTINED",
        "REJECTED",
        "BACKLOG",
        "LAST ERROR",
    ]
    .map(str::to_owned)
    .to_vec();
    let mut rows = vec![header];
    for agent in agents {
        let connected = match (agent.revoked_at, agent.connected) {
            (Some(_), _) => "revoked",
            (None, true) => "yes",
            (None, false) => "no",
        };
        let agent_cells = [
            agent.id.to_string(),
            agent.site.to_string(),
            agent.role.as_str().to_owned(),
            connected.to_owned(),
            agent.last_seen.map_or_else(|| "never".to_owned(), seconds),
        ];
        if agent.sources.is_empty() {
            let mut row = agent_cells.to_vec();
            row.extend(["-", "", "", "", "", "", ""].map(str::to_owned));
            rows.push(row);
        }
        for (i, source) in agent.sources.iter().enumerate() {
            let mut row: Vec<String> = if i == 0 {
                agent_cells.to_vec()
            } else {
                vec![String::new(); agent_cells.len()]
            };
            let last_error: String = source
                .last_error
                .as_deref()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(TABLE_ERROR_CHARS_MAX)
                .collect();
            row.extend([
                source.source.to_string(),
                source.applied_seq.to_string(),
                source.records_applied.to_string(),
                source.records_quarantined.to_string(),
                source.records_rejected.to_string(),
                source.backlog.to_string(),
                last_error,
            ]);
            rows.push(row);
        }
    }
    render(&rows)
}

/// A time to the second, in UTC, for humans.
fn seconds(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    xt_mobile_api::utc::format(t).unwrap_or_else(|_| "?".to_owned())
}

/// Left-aligned columns two spaces apart; trailing blanks trimmed.
fn render(rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        widths.resize(widths.len().max(row.len()), 0);
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            line.push_str(cell);
            let pad = width - cell.chars().count() + 2;
            line.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use xt_mobile_api::SourceView;
    use xt_mobile_api::utc::from_unix_ms;
    use xt_shared::ids::{SiteId, SourceName, TenantId};
    use xt_shared::protocol::AgentRole;

    const KEY: &str = "owner-key";
    const NOW_MS: i64 = 1_714_557_600_000;

    fn agent(id: &str, sources: usize) -> AgentView {
        AgentView {
            id: AgentId::new(id).unwrap(),
            tenant: TenantId::new("acme").unwrap(),
            site: SiteId::new("shanghai").unwrap(),
            role: AgentRole::Warehouse,
            connected: true,
            last_seen: Some(from_unix_ms(NOW_MS + 123).unwrap()),
            enrolled_at: from_unix_ms(NOW_MS).unwrap(),
            cert_expires_at: from_unix_ms(NOW_MS + 86_400_000).unwrap(),
            revoked_at: None,
            sources: (0..sources)
                .map(|i| SourceView {
                    source: SourceName::new(format!("src{i}")).unwrap(),
                    applied_seq: 100 + i as u64,
                    records_applied: 90,
                    records_quarantined: 3,
                    records_rejected: 1,
                    backlog: 7,
                    last_error: (i == 1).then(|| "db down\nstack".to_owned()),
                })
                .collect(),
        }
    }

    #[tokio::test]
    async fn an_unreachable_hub_is_reported_with_its_url() {
        // A port that was just free: nothing listens there any more.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = AdminClient::new(&format!("http://{addr}"), KEY).unwrap();
        let err = client.list_agents().await.unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("cannot reach hub at http://{addr}: ")),
            "{err}"
        );
    }

    #[test]
    fn bad_urls_and_keys_are_refused_up_front() {
        assert!(AdminClient::new("not a url", KEY).is_err());
        assert!(AdminClient::new("ftp://hub:21", KEY).is_err());
        assert!(AdminClient::new("http://hub:8080", " ").is_err());
        assert!(AdminClient::new("http://hub:8080", "a\nb").is_err());
        let client = AdminClient::new("http://hub:8080/", KEY).unwrap();
        assert_eq!(client.base, "http://hub:8080");
    }

    #[test]
    fn non_json_refusals_keep_status_and_excerpt() {
        let err = refusal(StatusCode::BAD_GATEWAY, "upstream down");
        assert_eq!(
            err.to_string(),
            "hub refused (502 bad gateway): upstream down"
        );
        let err = refusal(StatusCode::REQUEST_TIMEOUT, "");
        assert_eq!(err.to_string(), "hub refused (408 request timeout)");
    }

    #[test]
    fn agents_table() {
        let mut offline = agent("a2", 0);
        offline.connected = false;
        offline.last_seen = None;
        let mut revoked = agent("a3", 0);
        revoked.revoked_at = Some(from_unix_ms(NOW_MS).unwrap());
        let table = print_agents_table(&[agent("a1", 2), offline, revoked]);
        let expected = "\
ID  SITE      ROLE       CONNECTED  LAST SEEN             SOURCE  SEQ  APPLIED  QUARANTINED  REJECTED  BACKLOG  LAST ERROR
a1  shanghai  warehouse  yes        2024-05-01T10:00:00Z  src0    100  90       3            1         7
                                                          src1    101  90       3            1         7        db down
a2  shanghai  warehouse  no         never                 -
a3  shanghai  warehouse  revoked    2024-05-01T10:00:00Z  -
";
        assert_eq!(table, expected, "\n{table}");
        assert_eq!(print_agents_table(&[]), "no agents enrolled\n");
    }
}
