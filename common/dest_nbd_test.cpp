// Tests for telling NBD URIs from paths in dest=.  (The NBD destination
// itself needs real servers: tests/test-nbd-dest-*.sh.)

#include "dest_nbd.h"

#include <gtest/gtest.h>

namespace fanout {
namespace {

TEST(IsNbdUri, Schemes) {
  EXPECT_TRUE(IsNbdUri("nbd://example.com"));
  EXPECT_TRUE(IsNbdUri("nbd://127.0.0.1:10809/export"));
  EXPECT_TRUE(IsNbdUri("nbds://example.com/?tls-certificates=/etc/pki"));
  EXPECT_TRUE(IsNbdUri("nbd+unix:///?socket=/tmp/sock"));
  EXPECT_TRUE(IsNbdUri("nbds+unix:///export?socket=/tmp/sock"));
  EXPECT_TRUE(IsNbdUri("nbd+vsock:///"));
}

TEST(IsNbdUri, Paths) {
  EXPECT_FALSE(IsNbdUri("disk.img"));
  EXPECT_FALSE(IsNbdUri("/dev/nbd0"));
  EXPECT_FALSE(IsNbdUri("nbd.img"));
  EXPECT_FALSE(IsNbdUri("./nbd://x"));       // a path that looks like one
  EXPECT_FALSE(IsNbdUri("nbd:/tmp/x"));      // no ://
  EXPECT_FALSE(IsNbdUri("NBD://host"));      // schemes are lower case
  EXPECT_FALSE(IsNbdUri("nbd dir://host"));  // not a scheme
  EXPECT_FALSE(IsNbdUri("http://host"));
}

}  // namespace
}  // namespace fanout
