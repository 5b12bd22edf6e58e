//! What the management operations take and answer: the JSON of the management API (field
//! names in snake_case), documented in its OpenAPI document.

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// `Some(None)` for an explicit `null`, `None` when the field is absent.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// What DELETE does in a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeleteMode {
    /// Removes the resource.
    Hard,
    /// Hides it and keeps it restorable for the retention period.
    Soft,
}

impl From<DeleteMode> for scim_store::DeleteMode {
    fn from(m: DeleteMode) -> Self {
        match m {
            DeleteMode::Hard => scim_store::DeleteMode::Hard,
            DeleteMode::Soft => scim_store::DeleteMode::Soft,
        }
    }
}

impl From<scim_store::DeleteMode> for DeleteMode {
    fn from(m: scim_store::DeleteMode) -> Self {
        match m {
            scim_store::DeleteMode::Hard => DeleteMode::Hard,
            scim_store::DeleteMode::Soft => DeleteMode::Soft,
        }
    }
}

/// JWT mode: bearer tokens signed by the tenant's identity provider or gateway, accepted
/// besides `scim_` tokens. Exactly one of `jwks_url` and `static_key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Jwt {
    /// The `iss` a token must carry.
    pub issuer: String,
    /// An `aud` a token must carry.
    pub audience: String,
    /// Where the signing keys are published (a JWKS document, http or https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    /// One PEM public key (RSA, EC P-256/P-384 or Ed25519).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub static_key: Option<String>,
    /// The claim that names the tenant (e.g. `tid`).
    pub tenant_claim: String,
    /// The value that claim must have (default: the tenant's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_value: Option<String>,
}

impl From<Jwt> for scim_store::JwtSettings {
    fn from(j: Jwt) -> Self {
        scim_store::JwtSettings {
            issuer: j.issuer,
            audience: j.audience,
            jwks_url: j.jwks_url,
            static_key: j.static_key,
            tenant_claim: j.tenant_claim,
            tenant_value: j.tenant_value,
        }
    }
}

impl From<scim_store::JwtSettings> for Jwt {
    fn from(j: scim_store::JwtSettings) -> Self {
        Jwt {
            issuer: j.issuer,
            audience: j.audience,
            jwks_url: j.jwks_url,
            static_key: j.static_key,
            tenant_claim: j.tenant_claim,
            tenant_value: j.tenant_value,
        }
    }
}

/// A tenant to create (`POST /tenants`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantCreate {
    /// 1-64 letters, digits, `-` or `_`: the tenant's base URL is `/scim/v2/{name}`.
    pub name: String,
    /// Default `hard`.
    #[serde(default)]
    pub delete_mode: Option<DeleteMode>,
    /// Days a soft-deleted resource stays restorable (0-36500, default 30).
    #[serde(default)]
    pub retention_days: Option<i64>,
    /// Requests per minute the tenant may send on average (default: the server's).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub rate_limit_per_minute: Option<u32>,
    /// Requests the tenant may send at once above its rate (default: the server's).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub rate_burst: Option<u32>,
    /// JWT mode: bearer JWTs signed by the tenant's identity provider (default: off).
    #[serde(default)]
    pub jwt: Option<Jwt>,
}

impl TenantCreate {
    /// A tenant with this name and the default settings.
    pub fn named(name: &str) -> TenantCreate {
        TenantCreate {
            name: name.to_string(),
            delete_mode: None,
            retention_days: None,
            rate_limit_per_minute: None,
            rate_burst: None,
            jwt: None,
        }
    }
}

/// A change of a tenant's settings (`PATCH /tenants/{tenant}`): only the fields given
/// change; `null` puts a rate limit, burst or JWT mode back to the default (off).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    /// What DELETE does to the tenant's resources from now on: `hard` or `soft`.
    #[serde(default)]
    pub delete_mode: Option<DeleteMode>,
    /// Days a soft-deleted resource stays restorable (0-36500).
    #[serde(default)]
    pub retention_days: Option<i64>,
    /// Requests per minute on average; `null` goes back to the server's default.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>, minimum = 1)]
    pub rate_limit_per_minute: Option<Option<u32>>,
    /// Requests at once above the rate; `null` goes back to the server's default.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>, minimum = 1)]
    pub rate_burst: Option<Option<u32>>,
    /// JWT mode's settings; `null` turns it off.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Jwt>)]
    pub jwt: Option<Option<Jwt>>,
}

/// A tenant with its settings and how many users and groups it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TenantView {
    /// URL-safe, unique (case-insensitively); part of the SCIM base URL.
    pub name: String,
    /// Random and fixed at creation (event ids contain it).
    pub uid: String,
    /// When it was created (RFC 3339).
    pub created: String,
    /// The URL an identity provider is given.
    pub scim_base_url: String,
    /// What DELETE does to its resources: `hard` or `soft`.
    pub delete_mode: DeleteMode,
    /// Days a soft-deleted resource stays restorable.
    pub retention_days: i64,
    /// `null`: the server's default.
    pub rate_limit_per_minute: Option<u32>,
    /// `null`: the server's default.
    pub rate_burst: Option<u32>,
    /// `null`: JWT mode is off.
    pub jwt: Option<Jwt>,
    /// Live users.
    pub users: u64,
    /// Live groups.
    pub groups: u64,
}

/// `GET /tenants`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TenantList {
    /// Every tenant, by name.
    pub tenants: Vec<TenantView>,
}

/// What deleting a tenant removed (every trace of its data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TenantDeleted {
    /// The deleted tenant's name.
    pub name: String,
    /// The deleted tenant's uid (a tenant created later with the same name has another).
    pub uid: String,
    /// Users and groups, soft-deleted ones included.
    pub users: u64,
    /// Groups, soft-deleted ones included.
    pub groups: u64,
    /// Tokens, revoked and expired ones included.
    pub tokens: u64,
    /// Of `tokens`, those that worked until the delete (neither revoked nor expired).
    pub active_tokens: u64,
    /// Change records (events).
    pub events: u64,
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Everything an identity provider does.
    Write,
    /// SCIM reads only (writes get 403).
    Read,
}

impl From<Scope> for scim_store::TokenScope {
    fn from(s: Scope) -> Self {
        match s {
            Scope::Write => scim_store::TokenScope::Write,
            Scope::Read => scim_store::TokenScope::Read,
        }
    }
}

impl From<scim_store::TokenScope> for Scope {
    fn from(s: scim_store::TokenScope) -> Self {
        match s {
            scim_store::TokenScope::Write => Scope::Write,
            scim_store::TokenScope::Read => Scope::Read,
        }
    }
}

/// A token to create (`POST /tenants/{tenant}/tokens`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreate {
    /// Recorded with every change the token makes (e.g. `okta`); 1-100 printable characters.
    pub name: String,
    /// An RFC 3339 time in the future; none: the token does not expire.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub expires: Option<String>,
    /// Default `write`.
    #[serde(default)]
    pub scope: Option<Scope>,
}

impl TokenCreate {
    /// A write token with this name that does not expire.
    pub fn named(name: &str) -> TokenCreate {
        TokenCreate {
            name: name.to_string(),
            expires: None,
            scope: None,
        }
    }
}

/// Whether a token works now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenStatus {
    /// It authenticates requests.
    Active,
    /// Its expiry has passed.
    Expired,
    /// It was revoked.
    Revoked,
}

/// A token's metadata (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    /// The token's id (the part of the bearer token after `scim_`, before the secret).
    pub id: String,
    /// Recorded with every change the token makes.
    pub name: String,
    /// What the token may do.
    pub scope: Scope,
    /// Whether it works now.
    pub status: TokenStatus,
    /// When it was created (RFC 3339).
    pub created: String,
    /// `null`: never expires. A rotated token expires at the end of its overlap.
    pub expires: Option<String>,
    /// To the minute; `null`: never used.
    pub last_used: Option<String>,
    /// When it was revoked; `null`: not revoked.
    pub revoked: Option<String>,
}

/// `GET /tenants/{tenant}/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    /// The tenant's tokens, revoked and expired ones included.
    pub tokens: Vec<TokenView>,
}

/// A created token and its secret, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    /// The new token's metadata.
    pub token: TokenView,
    /// The bearer token (`scim_…`). Shown only in this answer: a replay of the request
    /// with the same `Idempotency-Key` answers without it (only its hash is stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The tenant's SCIM base URL, for the identity provider.
    pub scim_base_url: String,
}

/// How long the old token keeps working after a rotation: give at most one of the two
/// (default: 24 hours).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRotate {
    /// Seconds from now (0: the old token is revoked at once).
    #[serde(default)]
    #[schema(minimum = 0)]
    pub overlap_seconds: Option<i64>,
    /// An RFC 3339 time, not in the past.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub old_token_valid_until: Option<String>,
}

/// A rotation: the new token (secret shown once) and the old one with its new expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenRotated {
    /// The new token's metadata.
    pub token: TokenView,
    /// The new bearer token (`scim_…`), shown only in this answer.
    pub secret: String,
    /// The old token, with the expiry the rotation gave it.
    pub old_token: TokenView,
    /// The tenant's SCIM base URL, for the identity provider.
    pub scim_base_url: String,
}

/// A page of a tenant's users or groups, each in the JSON the event feed carries (the
/// SCIM representation, without a group's `members` and a user's `groups`); a user also
/// has `effectiveRoles`, the sorted roles its tenant's role rules give it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResourcePage {
    /// The resources of the page.
    #[schema(value_type = Vec<Object>)]
    pub resources: Vec<serde_json::Value>,
    /// How many match the filter.
    pub total_results: u64,
    /// Ask with `cursor=` this for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Which resources of a tenant to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceQuery {
    /// A SCIM filter (RFC 7644 §3.4.2.2), e.g. `userName sw "a"`.
    pub filter: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1-1000 (default 100).
    pub count: Option<u64>,
}

/// One management write, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditRecord {
    /// Its position in the audit log (a cursor: `after=`).
    pub seq: i64,
    /// When it was committed (RFC 3339, UTC).
    pub at: String,
    /// The admin token's name, the name an embedding application's hook gave
    /// (`scim_admin::auth::AuthHook`), or `cli:<user>` for a local command.
    pub actor: String,
    /// The admin token's id.
    pub actor_id: Option<String>,
    /// `tenant.create`, `tenant.update`, `tenant.delete`, `token.create`, `token.revoke`,
    /// `token.rotate`, …
    pub action: String,
    /// The tenant acted on, when there is one.
    pub tenant: Option<String>,
    /// The object acted on besides the tenant (a token id, …).
    pub target: Option<String>,
    /// The request's `X-Request-Id`.
    pub request_id: Option<String>,
    /// What was set (never a secret).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// `GET /audit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// The records, oldest first.
    pub records: Vec<AuditRecord>,
    /// Ask with `after=` this for the next records.
    pub next: i64,
}

/// What a role rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleMatch {
    /// Members (direct or nested) of the group with this displayName (case-insensitive).
    GroupDisplayName,
    /// Members of the group with this externalId (the identity provider's id).
    GroupExternalId,
    /// Members of the group with this id.
    GroupId,
    /// Every active user (no `value`).
    Default,
    /// Users whose attributes match the SCIM filter in `value`, e.g.
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Finance"`;
    /// re-evaluated whenever the user changes.
    UserFilter,
}

impl From<RoleMatch> for scim_store::roles::RoleMatch {
    fn from(m: RoleMatch) -> Self {
        match m {
            RoleMatch::GroupDisplayName => scim_store::roles::RoleMatch::GroupDisplayName,
            RoleMatch::GroupExternalId => scim_store::roles::RoleMatch::GroupExternalId,
            RoleMatch::GroupId => scim_store::roles::RoleMatch::GroupId,
            RoleMatch::Default => scim_store::roles::RoleMatch::Default,
            RoleMatch::UserFilter => scim_store::roles::RoleMatch::UserFilter,
        }
    }
}

impl From<scim_store::roles::RoleMatch> for RoleMatch {
    fn from(m: scim_store::roles::RoleMatch) -> Self {
        match m {
            scim_store::roles::RoleMatch::GroupDisplayName => RoleMatch::GroupDisplayName,
            scim_store::roles::RoleMatch::GroupExternalId => RoleMatch::GroupExternalId,
            scim_store::roles::RoleMatch::GroupId => RoleMatch::GroupId,
            scim_store::roles::RoleMatch::Default => RoleMatch::Default,
            scim_store::roles::RoleMatch::UserFilter => RoleMatch::UserFilter,
        }
    }
}

/// A role rule to add (`POST /tenants/{tenant}/role-rules`): "members of the group whose
/// `match` is `value` get `role`", "every active user gets `role`" (`default`), or "users
/// matching the filter `value` get `role`" (`user_filter`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRuleCreate {
    /// The application role (1-100 printable characters), e.g. `admin`.
    pub role: String,
    /// How the rule matches: a group by `displayName`, `externalId` or `id`, or `default`.
    #[serde(rename = "match")]
    pub matches: RoleMatch,
    /// The group's displayName, externalId or id (or a pattern of them), or a
    /// `user_filter`'s SCIM filter; absent for `default`.
    #[serde(default)]
    pub value: Option<String>,
    /// A group rule's `value` is a pattern: `*` any characters, `?` exactly one
    /// (displayName patterns are case-insensitive). Default `false`.
    #[serde(default)]
    pub pattern: bool,
}

impl RoleRuleCreate {
    /// A rule with this role, match and value (not a pattern).
    pub fn new(role: &str, matches: RoleMatch, value: Option<&str>) -> RoleRuleCreate {
        RoleRuleCreate {
            role: role.to_string(),
            matches,
            value: value.map(str::to_string),
            pattern: false,
        }
    }
}

/// A tenant's role rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoleRuleView {
    /// The rule's id.
    pub id: String,
    /// The application role it gives.
    pub role: String,
    /// How it matches.
    #[serde(rename = "match")]
    pub matches: RoleMatch,
    /// What it matches (absent for `default`).
    pub value: Option<String>,
    /// Whether `value` is a pattern (`*`, `?`).
    pub pattern: bool,
    /// When it was added (RFC 3339).
    pub created: String,
}

/// `GET /tenants/{tenant}/role-rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoleRuleList {
    /// The tenant's rules.
    pub rules: Vec<RoleRuleView>,
}

/// A user's effective roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserRoles {
    /// The user's SCIM id.
    pub user_id: String,
    /// Sorted.
    pub roles: Vec<String>,
}
