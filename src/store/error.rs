//! Turning database errors into the app's errors: the caller's mistakes keep
//! their meaning, everything else is logged with its cause and hidden.

use app::error::AppError;

pub(crate) fn db_error(error: sqlx::Error) -> AppError {
    if let sqlx::Error::Database(db) = &error {
        if db.is_unique_violation() {
            return AppError::Conflict("that already exists".into());
        }
        if db.is_foreign_key_violation() {
            return AppError::BadRequest("it refers to something that does not exist".into());
        }
    }
    tracing::error!(error = %error, cause = ?error, "database error");
    AppError::Internal
}

pub(crate) fn not_found(what: &str) -> impl FnOnce(sqlx::Error) -> AppError + '_ {
    move |error| match error {
        sqlx::Error::RowNotFound => AppError::NotFound(what.to_string()),
        other => db_error(other),
    }
}

pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> AppError {
    tracing::error!(%detail, "stored {what} could not be read");
    AppError::Internal
}
