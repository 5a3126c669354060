/// The server's domain error. Converted to the console's `AppError` (`console`) and the API envelope at
/// the edge, where infrastructure failures are logged and replaced by a generic message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("session store: {0}")]
    Session(#[from] tower_sessions::session::Error),
    #[error("crypto: {0}")]
    Crypto(String),
    /// A store call that gave no usable answer, where the caller only passes it on (to a retry).
    #[error("asking the store: {0}")]
    Store(#[from] crate::stores::StoreError),
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// Whether the database refused a row because of a unique constraint (same on both engines).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, Error::Database(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}
