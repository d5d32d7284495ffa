//! Teams, their quotas and their tokens on the wire (admin calls, and a
//! team's own view of itself).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A team: its quota (from the fleet file) and what it holds now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TeamView {
    /// Its name.
    pub name: String,
    /// GPUs it may hold at once, by accelerator (absent: unlimited).
    pub quota: BTreeMap<String, u64>,
    /// Its fair-share weight.
    pub weight: f64,
    /// The highest priority its work may ask for.
    pub max_priority: u32,
    /// GPUs asked for by its jobs that have not ended.
    pub live_gpus: u64,
}

/// Every team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TeamList {
    /// By name.
    pub teams: Vec<TeamView>,
}

/// A token to create (admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreate {
    /// The team it acts for; absent for another admin token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// A label for people (who has it, what for).
    pub label: String,
}

/// A token just created: the secret is shown this once and never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    /// The secret, to send as `Authorization: Bearer <token>`.
    pub token: String,
    /// Its id: the hex SHA-256 the server keeps.
    pub id: String,
    /// The team it acts for; absent for an admin token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

/// A stored token (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    /// Its id (hex SHA-256 of the secret).
    pub id: String,
    /// The team it acts for; absent for an admin token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Its label.
    pub label: String,
    /// Created at, RFC 3339.
    pub created_at: String,
    /// Revoked tokens are refused.
    pub revoked: bool,
}

/// Every token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    /// Tokens, oldest first.
    pub tokens: Vec<TokenView>,
}
