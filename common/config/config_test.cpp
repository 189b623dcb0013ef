// nbdkit-fanout
// Copyright (C) 2026 the nbdkit-fanout authors
// SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

// Tests for ConfigParser: the plugin's key=value parameters, parsed and
// checked without nbdkit (the size parser is injected).

#include "config/config.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace fanout {
namespace {

// A stand-in for nbdkit_parse_size: digits with an optional K, M or G
// suffix; -1 for anything else.
int64_t ParseSize(const char* s) {
  if (s == nullptr || !std::isdigit(static_cast<unsigned char>(*s))) return -1;
  int64_t n = 0;
  for (; std::isdigit(static_cast<unsigned char>(*s)); s++) {
    n = n * 10 + (*s - '0');
    if (n > (int64_t{1} << 40)) return -1;
  }
  switch (*s) {
    case '\0':
      return n;
    case 'K':
      n <<= 10;
      break;
    case 'M':
      n <<= 20;
      break;
    case 'G':
      n <<= 30;
      break;
    default:
      return -1;
  }
  return s[1] == '\0' ? n : -1;
}

ConfigParser NewParser() {
  return ConfigParser(ParseSize);
}

// Passes when st failed and its message names `word`.
::testing::AssertionResult FailsNaming(const Status& st, const std::string& word) {
  if (st.ok())
    return ::testing::AssertionFailure() << "succeeded; expected an error naming '" << word << "'";
  if (st.message().find(word) == std::string::npos)
    return ::testing::AssertionFailure()
           << "message \"" << st.message() << "\" does not name '" << word << "'";
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult IsOk(const Status& st) {
  if (st.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "error " << st.err() << ": " << st.message();
}

// Sets key=value on a parser that has a destination, then completes it:
// for a value that is rejected either when set or when checked with the rest.
Status SetAndComplete(const std::string& key, const std::string& value) {
  ConfigParser p = NewParser();
  Status st = p.Set("dest", "/tmp/out.img");
  if (!st.ok()) return st;
  st = p.Set(key, value);
  if (!st.ok()) return st;
  return p.Complete();
}

TEST(ConfigTest, TestSizeParser) {
  // The helper itself, so that failures below are the parser's.
  EXPECT_EQ(0, ParseSize("0"));
  EXPECT_EQ(1234, ParseSize("1234"));
  EXPECT_EQ(4 << 10, ParseSize("4K"));
  EXPECT_EQ(64 << 20, ParseSize("64M"));
  EXPECT_EQ(int64_t{2} << 30, ParseSize("2G"));
  EXPECT_EQ(-1, ParseSize(""));
  EXPECT_EQ(-1, ParseSize("abc"));
  EXPECT_EQ(-1, ParseSize("12X"));
  EXPECT_EQ(-1, ParseSize("1MM"));
  EXPECT_EQ(-1, ParseSize("-5"));
}

TEST(ConfigTest, Defaults) {
  ConfigParser p = NewParser();
  ASSERT_TRUE(IsOk(p.Set("dest", "/tmp/a")));
  ASSERT_TRUE(IsOk(p.Complete()));
  const Config& c = p.config();
  EXPECT_FALSE(c.size.has_value());
  EXPECT_EQ(uint64_t{64} << 20, c.window);
  EXPECT_EQ(uint64_t{4} << 20, c.bucket);
  EXPECT_EQ(4u, c.buckets);
  EXPECT_EQ(Config::kDefaultWindow, c.window);
  EXPECT_EQ(Config::kDefaultBucket, c.bucket);
  EXPECT_EQ(Config::kDefaultBuckets, c.buckets);
}

TEST(ConfigTest, DestIsRepeatableAndKeptInOrder) {
  ConfigParser p = NewParser();
  ASSERT_TRUE(IsOk(p.Set("dest", "/dev/sdb")));
  ASSERT_TRUE(IsOk(p.Set("dest", "disk.img")));
  ASSERT_TRUE(IsOk(p.Set("dest", "./pipe")));
  ASSERT_TRUE(IsOk(p.Complete()));
  const auto& d = p.config().destinations;
  ASSERT_EQ(3u, d.size());
  EXPECT_EQ("/dev/sdb", d[0].value);
  EXPECT_EQ("disk.img", d[1].value);
  EXPECT_EQ("./pipe", d[2].value);
  for (const auto& spec : d) EXPECT_EQ(DestinationSpec::Source::kPath, spec.source);
}

TEST(ConfigTest, CmdIsRepeatableAndKeptInOrderWithDest) {
  ConfigParser p = NewParser();
  ASSERT_TRUE(IsOk(p.Set("cmd", "gzip > a.gz")));
  ASSERT_TRUE(IsOk(p.Set("dest", "disk.img")));
  ASSERT_TRUE(IsOk(p.Set("cmd", "zstd -q > a.zst")));
  ASSERT_TRUE(IsOk(p.Complete()));
  const auto& d = p.config().destinations;
  ASSERT_EQ(3u, d.size());
  EXPECT_EQ(DestinationSpec::Source::kCommand, d[0].source);
  EXPECT_EQ("gzip > a.gz", d[0].value);
  EXPECT_EQ(DestinationSpec::Source::kPath, d[1].source);
  EXPECT_EQ("disk.img", d[1].value);
  EXPECT_EQ(DestinationSpec::Source::kCommand, d[2].source);
  EXPECT_EQ("zstd -q > a.zst", d[2].value);
}

TEST(ConfigTest, CmdAloneIsEnough) {
  ConfigParser p = NewParser();
  ASSERT_TRUE(IsOk(p.Set("cmd", "cat > /dev/null")));
  EXPECT_TRUE(IsOk(p.Complete()));
}

TEST(ConfigTest, CmdOfOnlyWhiteSpaceIsRefusedNamingIt) {
  ConfigParser p = NewParser();
  Status s = p.Set("cmd", " \t ");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ("cmd= \t : the command is only white space", s.message());
  EXPECT_EQ("cmd=: the command is empty", p.Set("cmd", "").message());
}

TEST(ConfigTest, SizesAndCountsParsed) {
  ConfigParser p = NewParser();
  ASSERT_TRUE(IsOk(p.Set("dest", "disk.img")));
  ASSERT_TRUE(IsOk(p.Set("size", "1G")));
  ASSERT_TRUE(IsOk(p.Set("window", "32M")));
  ASSERT_TRUE(IsOk(p.Set("bucket", "4M")));
  ASSERT_TRUE(IsOk(p.Set("buckets", "8")));
  ASSERT_TRUE(IsOk(p.Complete()));
  const Config& c = p.config();
  ASSERT_TRUE(c.size.has_value());
  EXPECT_EQ(uint64_t{1} << 30, *c.size);
  EXPECT_EQ(uint64_t{32} << 20, c.window);
  EXPECT_EQ(uint64_t{4} << 20, c.bucket);
  EXPECT_EQ(8u, c.buckets);
}

TEST(ConfigTest, PlainByteCounts) {
  ConfigParser p = NewParser();
  ASSERT_TRUE(IsOk(p.Set("dest", "disk.img")));
  ASSERT_TRUE(IsOk(p.Set("size", "1000000")));
  ASSERT_TRUE(IsOk(p.Set("window", "67108864")));
  ASSERT_TRUE(IsOk(p.Set("bucket", "4194304")));
  ASSERT_TRUE(IsOk(p.Complete()));
  EXPECT_EQ(1000000u, p.config().size.value_or(0));
  EXPECT_EQ(67108864u, p.config().window);
  EXPECT_EQ(4194304u, p.config().bucket);
}

TEST(ConfigTest, UnknownKeyIsNamed) {
  ConfigParser p = NewParser();
  const Status st = p.Set("frobnicate", "1");
  EXPECT_TRUE(FailsNaming(st, "frobnicate"));
  EXPECT_EQ(EINVAL, st.err());
}

TEST(ConfigTest, RepeatedSingleValuedKeyIsNamed) {
  struct Case {
    const char* key;
    const char* first;
    const char* second;
  };
  for (const Case& c : {Case{"size", "1G", "2G"}, Case{"window", "32M", "64M"},
                        Case{"bucket", "4M", "8M"}, Case{"buckets", "4", "8"}}) {
    const std::string key = c.key;
    SCOPED_TRACE(key);
    ConfigParser p = NewParser();
    ASSERT_TRUE(IsOk(p.Set(key, c.first)));
    const Status st = p.Set(key, c.second);
    EXPECT_TRUE(FailsNaming(st, key));
    EXPECT_EQ(EINVAL, st.err());
  }
}

TEST(ConfigTest, BadSizeValueNamesParameter) {
  for (const char* key : {"size", "window", "bucket"}) {
    SCOPED_TRACE(key);
    for (const char* value : {"abc", "12X", ""}) {
      ConfigParser p = NewParser();
      const Status st = p.Set(key, value);
      EXPECT_TRUE(FailsNaming(st, key)) << "value '" << value << "'";
      EXPECT_EQ(EINVAL, st.err());
    }
  }
}

TEST(ConfigTest, BadBucketsValueNamesParameter) {
  for (const char* value : {"abc", "-1", ""}) {
    SCOPED_TRACE(value);
    EXPECT_TRUE(FailsNaming(SetAndComplete("buckets", value), "buckets"));
  }
}

TEST(ConfigTest, CompleteWithoutDestinationFails) {
  ConfigParser p = NewParser();
  ASSERT_TRUE(IsOk(p.Set("window", "8M")));
  const Status st = p.Complete();
  EXPECT_TRUE(FailsNaming(st, "dest"));
  EXPECT_EQ(EINVAL, st.err());
}

TEST(ConfigTest, CompleteOfEmptyParserFails) {
  ConfigParser p = NewParser();
  EXPECT_TRUE(FailsNaming(p.Complete(), "dest"));
}

TEST(ConfigTest, ZeroValuesRejectedNamingParameter) {
  EXPECT_TRUE(FailsNaming(SetAndComplete("buckets", "0"), "buckets"));
  EXPECT_TRUE(FailsNaming(SetAndComplete("window", "0"), "window"));
  EXPECT_TRUE(FailsNaming(SetAndComplete("bucket", "0"), "bucket"));
}

TEST(ConfigTest, HelpListsTheKeys) {
  const char* help = ConfigParser::Help();
  ASSERT_NE(nullptr, help);
  const std::string h(help);
  for (const char* key : {"dest=", "cmd=", "size=", "window=", "bucket=", "buckets="})
    EXPECT_NE(std::string::npos, h.find(key)) << "--help does not mention " << key;
}

TEST(ConfigTest, HelpSaysTheDefaults) {
  EXPECT_EQ("64M", SizeInHelp(64ull << 20));
  EXPECT_EQ("4K", SizeInHelp(4096));
  EXPECT_EQ("1G", SizeInHelp(1ull << 30));
  EXPECT_EQ("1536", SizeInHelp(1536));
  EXPECT_EQ("0", SizeInHelp(0));
  const std::string h(ConfigParser::Help());
  EXPECT_NE(std::string::npos, h.find("(default " + SizeInHelp(Config::kDefaultWindow) + ")"));
}

TEST(ConfigTest, FailurePolicyDefaults) {
  ConfigParser p = NewParser();
  ASSERT_TRUE(IsOk(p.Set("dest", "a.img")));
  ASSERT_TRUE(IsOk(p.Complete()));
  EXPECT_EQ(Config::OnError::kContinue, p.config().on_error);
  EXPECT_EQ(1u, p.config().quorum);
  EXPECT_EQ("", p.config().status_file);
  EXPECT_FALSE(p.config().progress);
  EXPECT_FALSE(p.config().verify);
}

TEST(ConfigTest, FailurePolicyAndReporting) {
  ConfigParser p = NewParser();
  for (const char* d : {"a.img", "b.img", "c.img"}) ASSERT_TRUE(IsOk(p.Set("dest", d)));
  ASSERT_TRUE(IsOk(p.Set("on-error", "fail")));
  ASSERT_TRUE(IsOk(p.Set("quorum", "3")));
  ASSERT_TRUE(IsOk(p.Set("status", "s.json")));
  ASSERT_TRUE(IsOk(p.Set("progress", "true")));
  ASSERT_TRUE(IsOk(p.Complete()));
  EXPECT_EQ(Config::OnError::kFail, p.config().on_error);
  EXPECT_EQ(3u, p.config().quorum);
  EXPECT_EQ("s.json", p.config().status_file);
  EXPECT_TRUE(p.config().progress);
}

TEST(ConfigTest, BadFailurePolicyValuesNameTheParameter) {
  EXPECT_TRUE(FailsNaming(SetAndComplete("on-error", "ignore"), "on-error"));
  EXPECT_TRUE(FailsNaming(SetAndComplete("quorum", "0"), "quorum"));
  EXPECT_TRUE(FailsNaming(SetAndComplete("quorum", "x"), "quorum"));
  EXPECT_TRUE(FailsNaming(SetAndComplete("quorum", "-1"), "quorum"));
  EXPECT_TRUE(FailsNaming(SetAndComplete("progress", "maybe"), "progress"));
  EXPECT_TRUE(FailsNaming(SetAndComplete("status", ""), "status"));
}

TEST(ConfigTest, Verify) {
  ConfigParser p = NewParser();
  ASSERT_TRUE(IsOk(p.Set("dest", "a.img")));
  ASSERT_TRUE(IsOk(p.Set("verify", "true")));
  ASSERT_TRUE(IsOk(p.Complete()));
  EXPECT_TRUE(p.config().verify);
  EXPECT_TRUE(FailsNaming(SetAndComplete("verify", "maybe"), "verify"));
}

TEST(ConfigTest, VerifyRepair) {
  ConfigParser p = NewParser();
  ASSERT_TRUE(IsOk(p.Set("dest", "a.img")));
  ASSERT_TRUE(IsOk(p.Set("verify", "repair")));
  ASSERT_TRUE(IsOk(p.Complete()));
  EXPECT_TRUE(p.config().verify);
  EXPECT_TRUE(p.config().repair);
  Status s = SetAndComplete("verify", "maybe");
  EXPECT_EQ(s.message(), "verify=maybe: must be true, false or repair");
  ConfigParser q = NewParser();
  ASSERT_TRUE(IsOk(q.Set("verify", "false")));
  EXPECT_FALSE(q.config().verify);
  EXPECT_FALSE(q.config().repair);
}

TEST(ConfigTest, SparseDefaultsAndChoices) {
  ConfigParser p = NewParser();
  ASSERT_TRUE(IsOk(p.Set("dest", "a.img")));
  ASSERT_TRUE(IsOk(p.Complete()));
  EXPECT_TRUE(p.config().detect_zeroes);
  EXPECT_EQ(p.config().holes, Config::Holes::kWrite);
  ConfigParser q = NewParser();
  ASSERT_TRUE(IsOk(q.Set("dest", "a.img")));
  ASSERT_TRUE(IsOk(q.Set("detect-zeroes", "false")));
  ASSERT_TRUE(IsOk(q.Set("holes", "skip")));
  ASSERT_TRUE(IsOk(q.Complete()));
  EXPECT_FALSE(q.config().detect_zeroes);
  EXPECT_EQ(q.config().holes, Config::Holes::kSkip);
  EXPECT_EQ(SetAndComplete("detect-zeroes", "maybe").message(),
            "detect-zeroes=maybe: must be true or false");
  EXPECT_EQ(SetAndComplete("holes", "maybe").message(), "holes=maybe: must be 'write' or 'skip'");
}

TEST(ConfigTest, Sha256CanBeTurnedOff) {
  ConfigParser p = NewParser();
  ASSERT_TRUE(IsOk(p.Set("dest", "a.img")));
  ASSERT_TRUE(IsOk(p.Complete()));
  EXPECT_TRUE(p.config().sha256);
  ConfigParser q = NewParser();
  ASSERT_TRUE(IsOk(q.Set("dest", "a.img")));
  ASSERT_TRUE(IsOk(q.Set("sha256", "false")));
  ASSERT_TRUE(IsOk(q.Complete()));
  EXPECT_FALSE(q.config().sha256);
  EXPECT_TRUE(FailsNaming(SetAndComplete("sha256", "sometimes"), "sha256"));
}

TEST(ConfigTest, RequireFlushIsOptIn) {
  ConfigParser p = NewParser();
  ASSERT_TRUE(IsOk(p.Set("dest", "a.img")));
  ASSERT_TRUE(IsOk(p.Complete()));
  EXPECT_FALSE(p.config().require_flush);
  ConfigParser q = NewParser();
  ASSERT_TRUE(IsOk(q.Set("dest", "a.img")));
  ASSERT_TRUE(IsOk(q.Set("require-flush", "true")));
  ASSERT_TRUE(IsOk(q.Complete()));
  EXPECT_TRUE(q.config().require_flush);
  EXPECT_TRUE(FailsNaming(SetAndComplete("require-flush", "often"), "require-flush"));
}

TEST(ConfigTest, QuorumAboveDestinationCountIsRefused) {
  ConfigParser p = NewParser();
  ASSERT_TRUE(IsOk(p.Set("dest", "a.img")));
  ASSERT_TRUE(IsOk(p.Set("cmd", "cat >/dev/null")));
  ASSERT_TRUE(IsOk(p.Set("quorum", "3")));
  EXPECT_TRUE(FailsNaming(p.Complete(), "quorum"));
}

TEST(ConfigTest, IoDefaultsAndValues) {
  ConfigParser p = NewParser();
  ASSERT_TRUE(IsOk(p.Set("dest", "a.img")));
  ASSERT_TRUE(IsOk(p.Complete()));
  EXPECT_EQ(Config::Io::kUring, p.config().io);
  EXPECT_EQ(Config::Cache::kDefault, p.config().cache);
  EXPECT_FALSE(p.config().direct);

  ConfigParser q = NewParser();
  ASSERT_TRUE(IsOk(q.Set("dest", "a.img")));
  ASSERT_TRUE(IsOk(q.Set("io", "sync")));
  ASSERT_TRUE(IsOk(q.Set("cache", "none")));
  ASSERT_TRUE(IsOk(q.Set("direct", "true")));
  ASSERT_TRUE(IsOk(q.Complete()));
  EXPECT_EQ(Config::Io::kSync, q.config().io);
  EXPECT_EQ(Config::Cache::kNone, q.config().cache);
  EXPECT_TRUE(q.config().direct);
}

TEST(ConfigTest, BadIoValuesNameTheParameter) {
  EXPECT_TRUE(FailsNaming(SetAndComplete("io", "aio"), "io"));
  EXPECT_TRUE(FailsNaming(SetAndComplete("io", ""), "io"));
  EXPECT_TRUE(FailsNaming(SetAndComplete("cache", "writeback"), "cache"));
  EXPECT_TRUE(FailsNaming(SetAndComplete("direct", "maybe"), "direct"));
}

TEST(ConfigTest, InjectedBoolParserIsUsed) {
  int calls = 0;
  ConfigParser p(ParseSize, [&](const char* v) {
    calls++;
    return std::string(v) == "Y" ? 1 : 0;
  });
  ASSERT_TRUE(IsOk(p.Set("progress", "Y")));
  EXPECT_TRUE(p.config().progress);
  EXPECT_EQ(1, calls);
}

// nbdkit_parse_bool prints an error line of its own, without the key: a
// word it would refuse must not reach it, so the user sees one line.
TEST(ConfigTest, NonBooleanNeverReachesTheBoolParser) {
  int calls = 0;
  ConfigParser p(ParseSize, [&](const char*) {
    calls++;
    return -1;
  });
  EXPECT_TRUE(FailsNaming(p.Set("progress", "sometimes"), "progress=sometimes"));
  EXPECT_EQ(0, calls);
}

TEST(ConfigTest, SpillTakesAWritableDirectory) {
  ConfigParser p = NewParser();
  ASSERT_TRUE(IsOk(p.Set("dest", "/tmp/a")));
  EXPECT_TRUE(p.config().spill_dir.empty());
  EXPECT_EQ(Config::kDefaultSpillMemory, p.config().spill_memory);
  const char* tmp = getenv("TMPDIR");
  const std::string dir = tmp && *tmp ? tmp : "/tmp";
  ASSERT_TRUE(IsOk(p.Set("spill", dir)));
  ASSERT_TRUE(IsOk(p.Set("spill-memory", "32M")));
  ASSERT_TRUE(IsOk(p.Complete()));
  EXPECT_EQ(dir, p.config().spill_dir);
  EXPECT_EQ(32u << 20, p.config().spill_memory);
}

// An empty DIR is the parser's to refuse; a DIR that cannot take the spill
// file is refused when the engine opens it, by SpillFile::Open
// (spill_file_test.cpp: a missing DIR, a plain file; test-bad-params.sh:
// the same through nbdkit).
TEST(ConfigTest, BadSpillIsOneLineNamingSpill) {
  ConfigParser p = NewParser();
  const Status st = p.Set("spill", "");
  EXPECT_TRUE(FailsNaming(st, "spill=")) << st.message();
  EXPECT_EQ(std::string::npos, st.message().find('\n'));
}

TEST(ConfigTest, SpillMemoryNeedsSpillAndABucket) {
  ConfigParser p = NewParser();
  ASSERT_TRUE(IsOk(p.Set("dest", "/tmp/a")));
  ASSERT_TRUE(IsOk(p.Set("spill-memory", "32M")));
  EXPECT_TRUE(FailsNaming(p.Complete(), "spill-memory="));
  EXPECT_TRUE(FailsNaming(p.Complete(), "spill=DIR"));

  ConfigParser q = NewParser();
  ASSERT_TRUE(IsOk(q.Set("dest", "/tmp/a")));
  ASSERT_TRUE(IsOk(q.Set("spill", "/tmp")));
  ASSERT_TRUE(IsOk(q.Set("spill-memory", "2M")));  // below the 4M bucket
  EXPECT_TRUE(FailsNaming(q.Complete(), "spill-memory="));
  EXPECT_TRUE(FailsNaming(NewParser().Set("spill-memory", "100"), "spill-memory="));
}

}  // namespace
}  // namespace fanout
