fn main() {
    tabernetes_web::start();
}
