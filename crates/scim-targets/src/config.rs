//! Target files: one TOML file per target, `kind = "sql"` or `kind = "http"`, bound to a
//! tenant (or to every tenant with `tenant = "*"`). A directory of them is what
//! `scim serve --targets-dir` and `scim target` read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use scim_core::schema::SchemaRegistry;
use scim_mapping::LoadError;
use serde::Deserialize;
use toml::Spanned;

use crate::Target;

/// The 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map(|s| s.matches('\n').count() + 1)
        .unwrap_or(1)
}

/// Reads a secret from an environment variable (`env`) or a file; the mapping file only
/// names where it is.
pub fn secret(
    file: &str,
    text: &str,
    spec: &Spanned<String>,
    env: bool,
) -> Result<String, LoadError> {
    let err = |reason: String| LoadError {
        file: file.to_string(),
        line: line_of(text, spec.span().start),
        reason,
    };
    if env {
        std::env::var(spec.get_ref()).map_err(|_| {
            err(format!(
                "the environment variable {} is not set",
                spec.get_ref()
            ))
        })
    } else {
        std::fs::read_to_string(spec.get_ref())
            .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|e| {
                err(format!(
                    "cannot read the secret file {}: {e}",
                    spec.get_ref()
                ))
            })
    }
}

/// Which tenants a target serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantBinding {
    /// One tenant, by name.
    One(String),
    /// Every tenant (`tenant = "*"`).
    All,
}

impl TenantBinding {
    /// Whether the binding includes this tenant.
    pub fn covers(&self, tenant: &str) -> bool {
        match self {
            TenantBinding::One(t) => t == tenant,
            TenantBinding::All => true,
        }
    }
}

/// What every target file has.
#[derive(Debug, Clone)]
pub struct Common {
    /// The target's name (unique among the loaded targets).
    pub name: String,
    /// `sql` or `http`.
    pub kind: String,
    /// The tenants whose events it applies.
    pub tenant: TenantBinding,
}

#[derive(Deserialize)]
struct RawCommon {
    name: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
    tenant: Option<Spanned<String>>,
}

/// A loaded target with its binding.
#[derive(Clone)]
pub struct Configured {
    /// The target.
    pub target: Arc<dyn Target>,
    /// `sql` or `http`.
    pub kind: String,
    /// The tenants whose events it applies.
    pub tenant: TenantBinding,
    /// The file it was loaded from.
    pub file: PathBuf,
}

/// Loads one target file (connecting to a SQL target's database to check the mapping).
pub async fn load_target(path: &Path, registry: &SchemaRegistry) -> Result<Configured, LoadError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| LoadError {
        file: file.clone(),
        line: 0,
        reason: format!("cannot read: {e}"),
    })?;
    let raw: RawCommon = toml::from_str(&text).map_err(|e| LoadError {
        file: file.clone(),
        line: e.span().map(|s| line_of(&text, s.start)).unwrap_or(0),
        reason: e.message().trim().to_string(),
    })?;
    let missing = |what: &str| LoadError {
        file: file.clone(),
        line: 0,
        reason: format!("a target file needs `{what}`"),
    };
    let name = raw.name.ok_or_else(|| missing("name"))?;
    let kind = raw.kind.ok_or_else(|| missing("kind"))?;
    let tenant = raw.tenant.ok_or_else(|| missing("tenant"))?;
    let n = name.get_ref();
    if n.is_empty()
        || n.len() > 100
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(LoadError {
            file,
            line: line_of(&text, name.span().start),
            reason: format!("name '{n}': use 1-100 letters, digits, '-' or '_'"),
        });
    }
    let common = Common {
        name: n.clone(),
        kind: kind.get_ref().clone(),
        tenant: match tenant.get_ref().as_str() {
            "*" => TenantBinding::All,
            t => TenantBinding::One(t.to_string()),
        },
    };
    let target: Arc<dyn Target> = match common.kind.as_str() {
        "sql" => Arc::new(crate::sql::load_sql_target(&text, path, &common, registry).await?),
        "http" => Arc::new(crate::http::load_http_target(
            &text, path, &common, registry,
        )?),
        other => {
            return Err(LoadError {
                file,
                line: line_of(&text, kind.span().start),
                reason: format!("kind '{other}': a target is \"sql\" or \"http\""),
            });
        }
    };
    Ok(Configured {
        target,
        kind: common.kind,
        tenant: common.tenant,
        file: path.to_path_buf(),
    })
}

/// Loads every `*.toml` of a directory, in name order; two targets with one name are
/// refused.
pub async fn load_dir(dir: &Path, registry: &SchemaRegistry) -> Result<Vec<Configured>, LoadError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| LoadError {
            file: dir.display().to_string(),
            line: 0,
            reason: format!("cannot read the targets directory: {e}"),
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut out: Vec<Configured> = Vec::new();
    for f in files {
        let c = load_target(&f, registry).await?;
        if let Some(other) = out.iter().find(|o| o.target.name() == c.target.name()) {
            return Err(LoadError {
                file: f.display().to_string(),
                line: 0,
                reason: format!(
                    "the target name '{}' is taken by {}",
                    c.target.name(),
                    other.file.display()
                ),
            });
        }
        out.push(c);
    }
    Ok(out)
}
