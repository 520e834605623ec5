#pragma once
/// A vector that costs one pointer when empty: for the many short, mostly empty lists of the
/// configuration model and the topology (a backend's tags, countries, cities, ...). A
/// std::vector is three words even when empty; at 300,000 backends with seven lists each the
/// difference is about 100 MB (issue 20).
///
/// The elements live in one heap block after their count and capacity, so a non-empty list
/// touches the same cache lines as a std::vector's would (its header line, then the block).
/// Iterators are plain pointers. Only what the model uses is offered.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

namespace gslbd::util {

template <typename T>
class CompactVector {
  public:
    using value_type = T;
    using size_type = std::size_t;
    using difference_type = std::ptrdiff_t;
    using reference = T&;
    using const_reference = const T&;
    using pointer = T*;
    using const_pointer = const T*;
    using iterator = T*;
    using const_iterator = const T*;

    CompactVector() noexcept = default;
    CompactVector(std::initializer_list<T> items) { assign(items.begin(), items.end()); }
    CompactVector(const std::vector<T>& items) { assign(items.begin(), items.end()); }
    CompactVector(const CompactVector& o) { assign(o.begin(), o.end()); }
    CompactVector(CompactVector&& o) noexcept : b_(std::exchange(o.b_, nullptr)) {}
    CompactVector& operator=(const CompactVector& o) {
        if (this != &o) {
            clear();
            assign(o.begin(), o.end());
        }
        return *this;
    }
    CompactVector& operator=(CompactVector&& o) noexcept {
        if (this != &o) {
            release();
            b_ = std::exchange(o.b_, nullptr);
        }
        return *this;
    }
    CompactVector& operator=(std::initializer_list<T> items) {
        clear();
        assign(items.begin(), items.end());
        return *this;
    }
    ~CompactVector() { release(); }

    size_type size() const noexcept { return b_ != nullptr ? b_->size : 0; }
    bool empty() const noexcept { return size() == 0; }
    size_type capacity() const noexcept { return b_ != nullptr ? b_->cap : 0; }
    T* data() noexcept { return b_ != nullptr ? b_->items() : nullptr; }
    const T* data() const noexcept { return b_ != nullptr ? b_->items() : nullptr; }
    iterator begin() noexcept { return data(); }
    iterator end() noexcept { return data() + size(); }
    const_iterator begin() const noexcept { return data(); }
    const_iterator end() const noexcept { return data() + size(); }
    const_iterator cbegin() const noexcept { return begin(); }
    const_iterator cend() const noexcept { return end(); }
    T& operator[](size_type i) noexcept { return data()[i]; }
    const T& operator[](size_type i) const noexcept { return data()[i]; }
    const T& at(size_type i) const {
        if (i >= size()) throw std::out_of_range("CompactVector::at");
        return data()[i];
    }
    T& at(size_type i) {
        if (i >= size()) throw std::out_of_range("CompactVector::at");
        return data()[i];
    }
    T& front() noexcept { return data()[0]; }
    const T& front() const noexcept { return data()[0]; }
    T& back() noexcept { return data()[size() - 1]; }
    const T& back() const noexcept { return data()[size() - 1]; }

    /// Exact: the block holds `n` elements afterwards (lists are filled once, then read).
    void reserve(size_type n) {
        if (n > capacity()) grow(n);
    }
    void push_back(const T& v) { emplace_back(v); }
    void push_back(T&& v) { emplace_back(std::move(v)); }
    template <typename... A>
    T& emplace_back(A&&... args) {
        const size_type n = size();
        if (n == capacity()) grow(n == 0 ? 1 : n * 2);
        T* p = ::new (static_cast<void*>(b_->items() + n)) T(std::forward<A>(args)...);
        ++b_->size;
        return *p;
    }
    /// Frees the block: an emptied list costs one pointer again.
    void clear() noexcept { release(); }
    void shrink_to_fit() {
        if (size() == 0)
            release();
        else if (size() < capacity())
            grow(size());
    }

    friend bool operator==(const CompactVector& a, const CompactVector& b) {
        return std::equal(a.begin(), a.end(), b.begin(), b.end());
    }
    friend bool operator==(const CompactVector& a, const std::vector<T>& b) {
        return std::equal(a.begin(), a.end(), b.begin(), b.end());
    }
    /// As std::vector, for code that wants one.
    std::vector<T> to_vector() const { return std::vector<T>(begin(), end()); }

  private:
    struct Block {
        std::uint32_t size = 0, cap = 0;
        T* items() noexcept {
            return reinterpret_cast<T*>(reinterpret_cast<unsigned char*>(this) + kHeader);
        }
    };
    static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    static constexpr std::size_t kHeader =
        (sizeof(Block) + alignof(T) - 1) / alignof(T) * alignof(T);

    template <typename It>
    void assign(It first, It last) {
        const auto n = static_cast<size_type>(std::distance(first, last));
        if (n == 0) return;
        grow(n);
        for (; first != last; ++first) emplace_back(*first);
    }
    void grow(size_type cap) {
        void* raw = ::operator new(kHeader + cap * sizeof(T));
        Block* nb = ::new (raw) Block{};
        nb->cap = static_cast<std::uint32_t>(cap);
        if (b_ != nullptr) {
            T* from = b_->items();
            T* to = nb->items();
            for (std::uint32_t i = 0; i < b_->size; ++i) {
                ::new (static_cast<void*>(to + i)) T(std::move(from[i]));
                from[i].~T();
            }
            nb->size = b_->size;
            ::operator delete(static_cast<void*>(b_));
        }
        b_ = nb;
    }
    void release() noexcept {
        if (b_ == nullptr) return;
        if constexpr (!std::is_trivially_destructible_v<T>) {
            T* items = b_->items();
            for (std::uint32_t i = 0; i < b_->size; ++i) items[i].~T();
        }
        ::operator delete(static_cast<void*>(b_));
        b_ = nullptr;
    }

    Block* b_ = nullptr;
};

}  // namespace gslbd::util
