//! Variables as users and admins set them, for the settings page and the
//! REST API: names and sizes checked; instance-wide ones are an admin's.

use std::sync::Arc;

use crate::error::{AppError, AppResult};
use crate::model::{check_variable, Ownership, User, Variable};
use crate::ports::Store;

#[derive(Clone)]
pub struct Variables {
    store: Arc<dyn Store>,
}

impl Variables {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    fn owner(user: &User, shared: bool) -> AppResult<Ownership> {
        match shared {
            false => Ok(Ownership::User(user.id)),
            true if user.is_admin => Ok(Ownership::Shared),
            true => Err(AppError::Forbidden("only an admin can set instance-wide variables".into())),
        }
    }

    pub async fn set(&self, user: &User, name: &str, value: &str, shared: bool) -> AppResult<()> {
        let owner = Self::owner(user, shared)?;
        check_variable(name, value).map_err(AppError::BadRequest)?;
        self.store.put_variable(owner, name, value).await
    }

    pub async fn delete(&self, user: &User, name: &str, shared: bool) -> AppResult<()> {
        let owner = Self::owner(user, shared)?;
        self.store.delete_variable(owner, name).await
    }

    pub async fn list(&self, user: &User) -> AppResult<Vec<Variable>> {
        self.store.list_variables(user.id).await
    }
}
