pub fn import() {}
