//! Credentials as users and admins manage them, for the pages and the REST
//! API alike: names and kinds are checked, values sealed before they reach
//! the store, and a shared credential (every user may use it) is an admin's
//! to make, replace or delete.

use std::sync::Arc;

use serde_json::Value;

use crate::error::{AppError, AppResult};
use crate::model::{check_credential_name, Credential, CredentialValue, Ownership, User};
use crate::ports::{Sealer, Store};

#[derive(Clone)]
pub struct Credentials {
    store: Arc<dyn Store>,
    sealer: Arc<dyn Sealer>,
}

impl Credentials {
    pub fn new(store: Arc<dyn Store>, sealer: Arc<dyn Sealer>) -> Self {
        Self { store, sealer }
    }

    /// Whose credential `user` acts on: their own, or (admins only) the shared one.
    fn owner(user: &User, shared: bool) -> AppResult<Ownership> {
        match shared {
            false => Ok(Ownership::User(user.id)),
            true if user.is_admin => Ok(Ownership::Shared),
            true => Err(AppError::Forbidden("only an admin can manage shared credentials".into())),
        }
    }

    fn sealed(&self, kind: &str, data: Value) -> AppResult<(String, String)> {
        let value = CredentialValue::from_parts(kind, data).map_err(AppError::BadRequest)?;
        let plain = serde_json::to_string(&value).map_err(|_| AppError::Internal)?;
        Ok((value.kind().to_string(), self.sealer.seal(&plain)?))
    }

    pub async fn create(
        &self,
        user: &User,
        name: &str,
        kind: &str,
        data: Value,
        shared: bool,
    ) -> AppResult<Credential> {
        let owner = Self::owner(user, shared)?;
        check_credential_name(name).map_err(AppError::BadRequest)?;
        let (kind, sealed) = self.sealed(kind, data)?;
        self.store.create_credential(owner, user.id, name, &kind, &sealed).await
    }

    /// The credentials `user` may use, with the workflows of theirs that use each.
    pub async fn list(&self, user: &User) -> AppResult<Vec<Credential>> {
        self.store.list_credentials(user.id).await
    }

    /// Replaces the value (and possibly the kind) under the same name.
    pub async fn replace(&self, user: &User, name: &str, kind: &str, data: Value, shared: bool) -> AppResult<()> {
        let owner = Self::owner(user, shared)?;
        let (kind, sealed) = self.sealed(kind, data)?;
        self.store.replace_credential(owner, name, &kind, &sealed).await
    }

    /// Deletes it, unless a workflow uses it (`Conflict`, naming them).
    pub async fn delete(&self, user: &User, name: &str, shared: bool) -> AppResult<()> {
        let owner = Self::owner(user, shared)?;
        self.store.delete_credential(owner, name).await
    }
}
