trait Store {
    #[tailwatch::measure]
    fn get(&self) -> u32;
}

fn main() {}
