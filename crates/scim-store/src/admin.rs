//! Administration tokens: the credentials of the management API.

use async_trait::async_trait;

use crate::StoreError;

/// An administration token's metadata (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminTokenInfo {
    /// The token's id (the part of the bearer token between `scimadm_` and the secret).
    pub id: String,
    /// Its name (who holds it).
    pub name: String,
    /// When it was created (RFC 3339).
    pub created: String,
    /// When it stops working (`None`: never).
    pub expires: Option<String>,
    /// When it was revoked (`None`: not revoked).
    pub revoked: Option<String>,
    /// When it was last used, to the minute (`None`: never). Written at most once a
    /// minute per token and process, off the request's path, like a tenant token's.
    pub last_used: Option<String>,
}

/// Administration tokens authenticate the management API (`/admin/v1`) and nothing else:
/// a tenant's SCIM token is never accepted there, and an admin token never on a SCIM URL.
#[async_trait]
pub trait AdminTokens: Send + Sync {
    /// Creates a token; the returned text (`scimadm_…`) is the only time the secret is
    /// visible. `expires` (RFC 3339), when given, must be in the future.
    async fn create_admin_token(
        &self,
        name: &str,
        expires: Option<String>,
    ) -> Result<(AdminTokenInfo, String), StoreError>;

    /// Every admin token, oldest first.
    async fn list_admin_tokens(&self) -> Result<Vec<AdminTokenInfo>, StoreError>;

    /// Revokes a token: this store refuses it at once, other processes within 5 seconds
    /// (they remember a successful check that long). `false` if there is no such token or it
    /// was revoked before.
    async fn revoke_admin_token(&self, id: &str) -> Result<bool, StoreError>;

    /// The token a presented admin bearer token is, if it is valid at `now` (RFC 3339).
    async fn authenticate_admin(
        &self,
        token: &str,
        now: &str,
    ) -> Result<Option<AdminTokenInfo>, StoreError>;
}
