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
        // PostgreSQL's text cannot hold U+0000 (in text: 22021; in jsonb: 22P05).
        // Inputs that can hold one are checked or cleaned before they get here
        // (`app::model::nul`); this keeps any other path a 400, not a 500.
        if matches!(db.code().as_deref(), Some("22021" | "22P05")) {
            return AppError::BadRequest(app::model::nul::NUL_REFUSED.into());
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
