//! The durable store on redb: schema, typed access, the group-commit writer, retention. Only this module knows redb.
