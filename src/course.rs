//! The course: every lesson of every language, loaded from the copy embedded
//! in the binary or from a directory on disk (for lesson authors).
