#include <gtest/gtest.h>
TEST(StoreTest, Placeholder) {}
