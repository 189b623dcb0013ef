// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for TeeConfigParser: the tee filter's prefixed parameters map onto
// the fanout ones, and errors name them as the user wrote them.

#include "config/tee_config.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <string>

namespace fanout {
namespace {

// A stand-in for nbdkit_parse_size: digits with an optional K or M suffix.
int64_t ParseSize(const char* s) {
  if (s == nullptr || !std::isdigit(static_cast<unsigned char>(*s))) return -1;
  int64_t n = 0;
  for (; std::isdigit(static_cast<unsigned char>(*s)); s++) n = n * 10 + (*s - '0');
  if (*s == '\0') return n;
  if (s[1] != '\0') return -1;
  if (*s == 'K') return n << 10;
  if (*s == 'M') return n << 20;
  return -1;
}

TEST(TeeConfigTest, WhichKeysAreTheFilters) {
  EXPECT_TRUE(TeeConfigParser::IsTeeKey("tee"));
  EXPECT_TRUE(TeeConfigParser::IsTeeKey("tee-cmd"));
  EXPECT_TRUE(TeeConfigParser::IsTeeKey("tee-anything"));
  EXPECT_FALSE(TeeConfigParser::IsTeeKey("file"));
  EXPECT_FALSE(TeeConfigParser::IsTeeKey("teeth"));
  EXPECT_FALSE(TeeConfigParser::IsTeeKey("window"));
  EXPECT_FALSE(TeeConfigParser::IsTeeKey("dest"));
}

TEST(TeeConfigTest, KeysMapOntoFanout) {
  TeeConfigParser p(ParseSize);
  ASSERT_TRUE(p.Set("tee", "mirror.img").ok());
  ASSERT_TRUE(p.Set("tee-cmd", "gzip > x.gz").ok());
  ASSERT_TRUE(p.Set("tee", "fifo").ok());
  ASSERT_TRUE(p.Set("tee-window", "8M").ok());
  ASSERT_TRUE(p.Set("tee-ahead", "0").ok());
  ASSERT_TRUE(p.Set("tee-bucket", "64K").ok());
  ASSERT_TRUE(p.Set("tee-buckets", "8").ok());
  ASSERT_TRUE(p.Set("tee-on-error", "fail").ok());
  ASSERT_TRUE(p.Set("tee-quorum", "2").ok());
  ASSERT_TRUE(p.Set("tee-status", "s.json").ok());
  ASSERT_TRUE(p.Set("tee-progress", "true").ok());
  ASSERT_TRUE(p.Complete().ok());
  const Config& c = p.config();
  ASSERT_EQ(3u, c.destinations.size());
  EXPECT_EQ(DestinationSpec::Source::kPath, c.destinations[0].source);
  EXPECT_EQ("mirror.img", c.destinations[0].value);
  EXPECT_EQ(DestinationSpec::Source::kCommand, c.destinations[1].source);
  EXPECT_EQ("gzip > x.gz", c.destinations[1].value);
  EXPECT_EQ("fifo", c.destinations[2].value);
  EXPECT_EQ(8u << 20, c.window);
  EXPECT_EQ(0u, c.ahead);
  EXPECT_EQ(64u << 10, c.bucket);
  EXPECT_EQ(8u, c.buckets);
  EXPECT_EQ(Config::OnError::kFail, c.on_error);
  EXPECT_EQ(2u, c.quorum);
  EXPECT_EQ("s.json", c.status_file);
  EXPECT_TRUE(c.progress);
  EXPECT_FALSE(c.size.has_value());
}

// The keys main gained after the filter was written (spill=, verify=,
// sha256=): the filter offers what the plugin does.
TEST(TeeConfigTest, SpillVerifySha256MapOntoFanout) {
  TeeConfigParser defaults(ParseSize);
  ASSERT_TRUE(defaults.Set("tee", "mirror.img").ok());
  ASSERT_TRUE(defaults.Complete().ok());
  EXPECT_FALSE(defaults.config().verify);
  EXPECT_TRUE(defaults.config().sha256);
  EXPECT_EQ("", defaults.config().spill_dir);

  char dir[] = "/tmp/tee_config_test.XXXXXX";
  ASSERT_NE(nullptr, mkdtemp(dir));
  TeeConfigParser p(ParseSize);
  ASSERT_TRUE(p.Set("tee", "mirror.img").ok());
  ASSERT_TRUE(p.Set("tee-bucket", "64K").ok());
  Status s = p.Set("tee-spill", dir);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_TRUE(p.Set("tee-spill-memory", "1M").ok());
  ASSERT_TRUE(p.Set("tee-verify", "true").ok());
  ASSERT_TRUE(p.Set("tee-sha256", "false").ok());
  s = p.Complete();
  ASSERT_TRUE(s.ok()) << s.message();
  const Config& c = p.config();
  EXPECT_EQ(dir, c.spill_dir);
  EXPECT_EQ(1u << 20, c.spill_memory);
  EXPECT_TRUE(c.verify);
  EXPECT_FALSE(c.sha256);
  rmdir(dir);
}

TEST(TeeConfigTest, SpillVerifySha256ErrorsNameTheTeeParameter) {
  TeeConfigParser p(ParseSize);
  Status s = p.Set("tee-verify", "maybe");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ("tee-verify=maybe: must be true, false or repair", s.message());
  s = p.Set("tee-sha256", "maybe");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ("tee-sha256=maybe: must be true or false", s.message());
  s = p.Set("tee-spill-memory", "1Q");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(0u, s.message().rfind("tee-spill-memory=1Q: not a size", 0)) << s.message();
  // (A DIR that cannot take the spill file is refused by the engine, with
  // the filter's spelling too: tests/test-tee-bad-params.sh.)
  s = p.Set("tee-spill", "");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ("tee-spill=: the directory name is empty", s.message());

  // tee-spill-memory= without tee-spill=, spelled as the user wrote them.
  TeeConfigParser q(ParseSize);
  ASSERT_TRUE(q.Set("tee", "mirror.img").ok());
  ASSERT_TRUE(q.Set("tee-spill-memory", "1M").ok());
  s = q.Complete();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ("tee-spill-memory=1M: only means something with tee-spill=DIR", s.message());
}

TEST(TeeConfigTest, BadValueNamesTheTeeParameter) {
  TeeConfigParser p(ParseSize);
  Status s = p.Set("tee-window", "12Q");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(0u, s.message().rfind("tee-window=12Q: not a size", 0)) << s.message();
  EXPECT_NE(std::string::npos, s.message().find("for example tee-window=64M")) << s.message();
  EXPECT_EQ(std::string::npos, s.message().find(" window=")) << s.message();

  s = p.Set("tee-on-error", "maybe");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(0u, s.message().rfind("tee-on-error=maybe: must be", 0)) << s.message();

  s = p.Set("tee", "");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(0u, s.message().rfind("tee=: the path is empty", 0)) << s.message();

  s = p.Set("tee-cmd", "");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(0u, s.message().rfind("tee-cmd=: the command is empty", 0)) << s.message();

  ASSERT_TRUE(p.Set("tee-buckets", "2").ok());
  s = p.Set("tee-buckets", "3");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ("tee-buckets=3: tee-buckets= was already given", s.message());
}

TEST(TeeConfigTest, IoCacheDirectMapOntoFanout) {
  TeeConfigParser defaults(ParseSize);
  ASSERT_TRUE(defaults.Set("tee", "mirror.img").ok());
  ASSERT_TRUE(defaults.Complete().ok());
  EXPECT_EQ(Config::Io::kUring, defaults.config().io);
  EXPECT_EQ(Config::Cache::kDefault, defaults.config().cache);
  EXPECT_FALSE(defaults.config().direct);

  TeeConfigParser p(ParseSize);
  ASSERT_TRUE(p.Set("tee", "mirror.img").ok());
  ASSERT_TRUE(p.Set("tee-io", "sync").ok());
  ASSERT_TRUE(p.Set("tee-cache", "none").ok());
  ASSERT_TRUE(p.Set("tee-direct", "true").ok());
  ASSERT_TRUE(p.Complete().ok());
  EXPECT_EQ(Config::Io::kSync, p.config().io);
  EXPECT_EQ(Config::Cache::kNone, p.config().cache);
  EXPECT_TRUE(p.config().direct);
}

TEST(TeeConfigTest, IoCacheDirectErrorsNameTheTeeParameter) {
  TeeConfigParser p(ParseSize);
  Status s = p.Set("tee-io", "aio");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(0u, s.message().rfind("tee-io=aio: must be", 0)) << s.message();
  EXPECT_EQ(std::string::npos, s.message().find(" io=")) << s.message();
  s = p.Set("tee-cache", "off");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(0u, s.message().rfind("tee-cache=off: must be", 0)) << s.message();
  s = p.Set("tee-direct", "maybe");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ("tee-direct=maybe: must be true or false", s.message());
}

TEST(TeeConfigTest, UnknownTeeKeysAreErrors) {
  TeeConfigParser p(ParseSize);
  Status s = p.Set("tee-size", "1M");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ("unknown parameter 'tee-size'", s.message());
  s = p.Set("tee-dest", "x");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ("unknown parameter 'tee-dest'", s.message());
}

TEST(TeeConfigTest, CompleteNeedsATeeDestination) {
  TeeConfigParser p(ParseSize);
  Status s = p.Complete();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ("no tee destination: give at least one tee=PATH or tee-cmd=COMMAND", s.message());

  ASSERT_TRUE(p.Set("tee", "a.img").ok());
  ASSERT_TRUE(p.Set("tee-quorum", "2").ok());
  s = p.Complete();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ("tee-quorum=2: there are only 1 destinations", s.message());
}

TEST(TeeConfigTest, RefusesThePluginsOwnFile) {
  char dir[] = "/tmp/tee_config_test.XXXXXX";
  ASSERT_NE(nullptr, mkdtemp(dir));
  const std::string base = std::string(dir) + "/base.img", other = std::string(dir) + "/m.img";
  ASSERT_EQ(0, close(creat(base.c_str(), 0644)));
  ASSERT_EQ(0, symlink(base.c_str(), (std::string(dir) + "/link").c_str()));

  TeeConfigParser p(ParseSize);
  p.NotePluginParameter("file", base);
  p.NotePluginParameter("size", "1M");
  ASSERT_TRUE(p.Set("tee", other).ok());
  EXPECT_TRUE(p.Complete().ok());  // m.img does not exist yet: not the same

  TeeConfigParser q(ParseSize);
  q.NotePluginParameter("file", base);
  ASSERT_TRUE(q.Set("tee", std::string(dir) + "/link").ok());
  Status s = q.Complete();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ("tee=" + std::string(dir) + "/link: the same file as the plugin's file=" + base +
                "; a tee destination is overwritten",
            s.message());

  unlink((std::string(dir) + "/link").c_str());
  unlink(base.c_str());
  rmdir(dir);
}

TEST(TeeConfigTest, UserSpellingRewritesWholeKeysOnly) {
  EXPECT_EQ("tee=/x/y: is a directory", TeeConfigParser::UserSpelling("dest=/x/y: is a directory"));
  EXPECT_EQ("tee-cmd=gzip: write: Broken pipe",
            TeeConfigParser::UserSpelling("cmd=gzip: write: Broken pipe"));
  EXPECT_EQ("write at 0 is behind the stream; a tee-window=128M would have taken it",
            TeeConfigParser::UserSpelling(
                "write at 0 is behind the stream; a window=128M would have taken it"));
  EXPECT_EQ("tee-buckets=3 tee-bucket=4K", TeeConfigParser::UserSpelling("buckets=3 bucket=4K"));
  // Already in the filter's spelling, or not a key at all: unchanged.
  EXPECT_EQ("tee-window=8M", TeeConfigParser::UserSpelling("tee-window=8M"));
  EXPECT_EQ("the command exited with status 3; quorum 2",
            TeeConfigParser::UserSpelling("the command exited with status 3; quorum 2"));
  EXPECT_EQ("xdest=1 my_cmd=2", TeeConfigParser::UserSpelling("xdest=1 my_cmd=2"));
  EXPECT_EQ("tee-spill-memory=1M: only means something with tee-spill=DIR",
            TeeConfigParser::UserSpelling("spill-memory=1M: only means something with spill=DIR"));
  EXPECT_EQ("tee-verify=x tee-sha256=y", TeeConfigParser::UserSpelling("verify=x sha256=y"));
}

}  // namespace
}  // namespace fanout
