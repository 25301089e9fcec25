/* helper_echo - copy stdin to stdout: the payload becomes the result. */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    char buf[65536];
    ssize_t n;

    while ((n = read(0, buf, sizeof(buf))) > 0) {
        ssize_t off = 0;
        while (off < n) {
            ssize_t w = write(1, buf + off, (size_t)(n - off));
            if (w <= 0)
                return 2;
            off += w;
        }
    }
    return n < 0 ? 3 : 0;
}
